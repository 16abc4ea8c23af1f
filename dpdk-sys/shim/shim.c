/* See shim.h. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>

#include "shim.h"

int rvs_eal_init(int argc, char **argv)
{
	cpu_set_t saved;
	int have = pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) == 0;
	int ret = rte_eal_init(argc, argv);
	int err = rte_errno;
	if (have)
		pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
	rte_errno = err;
	return ret;
}

int rvs_errno(void)
{
	return rte_errno;
}

uint64_t rvs_rss_hf_default(void)
{
	return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
}

uint16_t rvs_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts,
		      uint16_t n)
{
	return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t rvs_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts,
		      uint16_t n)
{
	return rte_eth_tx_burst(port, queue, pkts, n);
}

struct rte_mbuf *rvs_pktmbuf_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

void *rvs_mbuf_buf_addr(const struct rte_mbuf *m)
{
	return m->buf_addr;
}

uint32_t rvs_mbuf_buf_len(const struct rte_mbuf *m)
{
	return m->buf_len;
}

uint16_t rvs_mbuf_data_off(const struct rte_mbuf *m)
{
	return m->data_off;
}

void rvs_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

void rvs_pktmbuf_free_n(struct rte_mbuf **m, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		rte_pktmbuf_free(m[i]);
}

/* rvs's C shim over libdpdk.
 *
 * DPDK's fast-path functions (rte_eth_rx_burst, rte_eth_tx_burst,
 * rte_pktmbuf_alloc/free, ...) are static inline in its headers, so they
 * have no symbol to link against: each gets a one-line exported wrapper
 * here. The fast path makes one foreign call per burst: the Rust side
 * reads and writes the mbuf headers' plain fields itself (bindgen gives
 * their layout). Nothing here keeps state.
 */
#ifndef RVS_DPDK_SHIM_H
#define RVS_DPDK_SHIM_H

#include <stdint.h>

#include <rte_config.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

/* rte_eal_init, with the calling thread's CPU affinity restored afterwards
 * (EAL pins the calling thread to its main lcore; rvs's control, handler
 * and revalidator threads must not inherit that). */
int rvs_eal_init(int argc, char **argv);

/* The calling thread's rte_errno. */
int rvs_errno(void);

/* RSS hash functions rvs asks for (IP, TCP, UDP). */
uint64_t rvs_rss_hf_default(void);

/* rte_eth_rx_burst. The Rust side reads what it needs of each received
 * mbuf (data room, frame bounds, segments, refcount, RSS hash) from the
 * header's first cache line itself: an array of per-mbuf views filled
 * here cost ~34 instructions a packet (callgrind) and read the second
 * cache line for `next` besides. */
uint16_t rvs_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts,
		      uint16_t n);

/* rte_eth_tx_burst. The caller has set each mbuf's data_off, data_len,
 * pkt_len and ol_flags. Returns how many the device took; the caller
 * frees the rest. */
uint16_t rvs_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts,
		      uint16_t n);

/* rte_pktmbuf_alloc: an mbuf with the default headroom, or NULL. */
struct rte_mbuf *rvs_pktmbuf_alloc(struct rte_mempool *mp);

/* Data room start, size and headroom of an mbuf from rvs_pktmbuf_alloc. */
void *rvs_mbuf_buf_addr(const struct rte_mbuf *m);
uint32_t rvs_mbuf_buf_len(const struct rte_mbuf *m);
uint16_t rvs_mbuf_data_off(const struct rte_mbuf *m);

/* rte_pktmbuf_free (the whole chain). */
void rvs_pktmbuf_free(struct rte_mbuf *m);

/* rte_pktmbuf_free on each of n mbufs. */
void rvs_pktmbuf_free_n(struct rte_mbuf **m, unsigned int n);

#endif

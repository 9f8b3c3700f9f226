// Warp collectives beyond shuffles, timers, fences, volatile and scoped atomics.
#include <cuda/atomic>
__global__ void warpOps(int *out, unsigned long long *t, volatile int *flag) {
  unsigned mask = __activemask();
  int lane = threadIdx.x & 31;
  unsigned same = __match_any_sync(0xffffffffu, lane / 4);
  int pred;
  unsigned all = __match_all_sync(0xffffffffu, 42, &pred);
  __syncwarp();
  __syncwarp(mask);
  long long c0 = clock64();
  unsigned c1 = clock();
  unsigned long long g;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g));
  unsigned lt, sm, warpid, dsm;
  asm("mov.u32 %0, %%lanemask_lt;" : "=r"(lt));
  asm("mov.u32 %0, %%smid;" : "=r"(sm));
  asm("mov.u32 %0, %%warpid;" : "=r"(warpid));
  asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(dsm));
  __nanosleep(100);
  while (*flag == 0) { }
  out[threadIdx.x] = same + all + pred + lt + sm + warpid + dsm + (int)c1;
  t[threadIdx.x] = c0 + g;
#if __CUDA_ARCH__ >= 800
  out[threadIdx.x + 32] = __reduce_add_sync(0xffffffffu, lane) + __reduce_max_sync(0xffffffffu, lane) +
                          (int)__reduce_or_sync(0xffffffffu, (unsigned)lane) + __reduce_min_sync(0xffffffffu, -lane);
#endif
}
__global__ void scoped(int *p, int *q) {
  cuda::atomic_ref<int, cuda::thread_scope_device> a(*p);
  a.fetch_add(1, cuda::memory_order_relaxed);
  a.store(5, cuda::memory_order_release);
  int v = a.load(cuda::memory_order_acquire);
  cuda::atomic_ref<int, cuda::thread_scope_block> b(*q);
  b.fetch_max(v, cuda::memory_order_acq_rel);
  int expected = 0;
  b.compare_exchange_strong(expected, 7, cuda::memory_order_seq_cst);
  cuda::atomic_thread_fence(cuda::memory_order_seq_cst, cuda::thread_scope_system);
}

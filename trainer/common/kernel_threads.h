#ifndef OFA_TRAINER_COMMON_KERNEL_THREADS_H_
#define OFA_TRAINER_COMMON_KERNEL_THREADS_H_

namespace ofa::trainer {

// Makes LibTorch kernels called from the current thread use at most `threads` OpenMP threads.
//
// Why: LibTorch's CPU kernels parallelise with OpenMP, and every thread that calls them gets
// its own OpenMP team sized by the process default (all cores). A background thread that
// prepares batches with tensor ops therefore runs a second team beside the training thread's,
// and on a 2-core machine the two teams' spin-waiting halved training throughput (measured:
// 361 vs 787 images/s on the Fashion-MNIST full phase). Helper threads call this with 1.
//
// The OpenMP runtime is the one LibTorch loaded (Debian's libgomp, or the copy bundled with
// official LibTorch builds), found at run time; without one this does nothing.
void LimitKernelThreadsOfThisThread(int threads);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_COMMON_KERNEL_THREADS_H_

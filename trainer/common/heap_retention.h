#ifndef OFA_TRAINER_COMMON_HEAP_RETENTION_H_
#define OFA_TRAINER_COMMON_HEAP_RETENTION_H_

namespace ofa::trainer {

// Keeps memory that training frees in this process's heap, for the next step to reuse.
//
// Why: LibTorch's CPU allocator is plain malloc. A training step allocates its activations
// and gradients in many blocks of up to a few MB and frees them all at its end; glibc then
// hands the freed top of the heap back to the kernel (trim) or unmaps the larger blocks, and
// the next step page-faults every byte in again. On the Fashion-MNIST full phase that cost
// 2.35x in throughput (medians) and made it swing between runs (docs/performance.md).
//
// Sets glibc's mmap threshold to its maximum (32 MiB) and its trim threshold to 2 GiB, which
// is what a caching allocator does: the process keeps its high-water mark of freed memory.
// Both must be set: a fixed trim threshold alone turns off glibc's adaptive mmap threshold
// and was 5x slower still. Process-wide and idempotent. Returns false where it could not
// (not glibc, or mallopt refused); training still works then, only slower. Under tcmalloc,
// which keeps freed memory in its own caches, it changes nothing and returns true.
bool RetainFreedHeapMemory();

// The malloc this process runs on: "tcmalloc" where gperftools' tcmalloc serves malloc
// (linked in, as ofa-trainer is, or preloaded), otherwise "glibc malloc".
const char* HeapAllocatorName();

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_COMMON_HEAP_RETENTION_H_

#ifndef OFA_TRAINER_COMMON_STREAM_SEED_H_
#define OFA_TRAINER_COMMON_STREAM_SEED_H_

#include <cstdint>
#include <initializer_list>

namespace ofa::trainer {

// SplitMix64 (Steele et al. 2014): a tiny, well-mixed generator whose output is fully
// specified, unlike std:: distributions, so every rank and every machine draws the same values.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n); the modulo bias is below 2^-50 for the small n used here.
  uint64_t Below(uint64_t n) { return Next() % n; }
  // Uniform in [0, 1), from the top 53 bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

// A seed that is a pure function of a job seed and a path such as {stream, phase, step,
// index}: the basis of "every rank samples the same sub-network" and of exact resume.
inline uint64_t StreamSeed(uint64_t seed, std::initializer_list<uint64_t> path) {
  SplitMix64 mix(seed);
  uint64_t out = mix.Next();
  for (uint64_t p : path) out = SplitMix64(out ^ (p * 0xd1b54a32d192ed03ULL)).Next();
  return out;
}

// Stream identifiers, so different uses of the same (phase, step) never share randomness.
enum SeedStream : uint64_t {
  kSeedInit = 1,
  kSeedShuffle = 2,
  kSeedAugment = 3,
  kSeedSubnet = 4,
  kSeedDropout = 5,
  kSeedTeacher = 6,
  kSeedSpecialize = 7,
};

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_COMMON_STREAM_SEED_H_

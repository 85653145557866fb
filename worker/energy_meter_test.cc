#include "worker/energy_meter.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace ofa::worker {
namespace {

namespace fs = std::filesystem;

// A powercap tree laid out like the kernel's (files, not a mock of the reader).
class FakePowercap {
 public:
  FakePowercap() : root_(fs::path(testing::TempDir()) / "powercap") {
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void AddDomain(const std::string& dir, const std::string& name, uint64_t range, uint64_t value) {
    fs::create_directories(root_ / dir);
    std::ofstream(root_ / dir / "name") << name << "\n";
    std::ofstream(root_ / dir / "max_energy_range_uj") << range << "\n";
    Set(dir, value);
  }
  void Set(const std::string& dir, uint64_t value) {
    std::ofstream(root_ / dir / "energy_uj") << value << "\n";
  }
  std::string root() const { return root_.string(); }

 private:
  fs::path root_;
};

TEST(RaplCounterTest, AccumulatesAcrossWrapAround) {
  FakePowercap powercap;
  powercap.AddDomain("intel-rapl:0", "package-0", 1'000'000, 900'000);
  auto counter = RaplCounter::Open(powercap.root() + "/intel-rapl:0");
  ASSERT_TRUE(counter.ok()) << counter.status();
  powercap.Set("intel-rapl:0", 950'000);
  EXPECT_DOUBLE_EQ(*(*counter)->Read(), 0.05);
  // Wrapped: 50,000 uJ up to the range, 1 to reach 0, then 100,000.
  powercap.Set("intel-rapl:0", 100'000);
  EXPECT_NEAR(*(*counter)->Read(), 0.05 + 0.150001, 1e-12);
  powercap.Set("intel-rapl:0", 100'000);
  EXPECT_NEAR(*(*counter)->Read(), 0.200001, 1e-12);
}

TEST(RaplCounterTest, GarbageCounterIsAnErrorNamingTheFile) {
  FakePowercap powercap;
  powercap.AddDomain("intel-rapl:0", "package-0", 1000, 5);
  auto counter = RaplCounter::Open(powercap.root() + "/intel-rapl:0");
  ASSERT_TRUE(counter.ok());
  std::ofstream(powercap.root() + "/intel-rapl:0/energy_uj") << "n/a\n";
  absl::StatusOr<double> read = (*counter)->Read();
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find("intel-rapl:0/energy_uj"), std::string::npos);
}

TEST(RaplDomainsTest, PackagesAndDramOnly) {
  FakePowercap powercap;
  powercap.AddDomain("intel-rapl:0", "package-0", 1 << 30, 0);
  powercap.AddDomain("intel-rapl:0:0", "core", 1 << 30, 0);
  powercap.AddDomain("intel-rapl:0:1", "dram", 1 << 30, 0);
  powercap.AddDomain("intel-rapl:1", "package-1", 1 << 30, 0);
  powercap.AddDomain("intel-rapl-mmio:0", "package-0", 1 << 30, 0);
  auto domains = OpenRaplDomains(powercap.root());
  ASSERT_TRUE(domains.ok()) << domains.status();
  std::vector<std::string> names;
  for (const auto& d : *domains) names.push_back(d->name());
  EXPECT_EQ(names, (std::vector<std::string>{"package-0", "dram", "package-1"}));
}

TEST(RaplDomainsTest, MissingTreeSaysSo) {
  auto domains = OpenRaplDomains("/nonexistent/powercap");
  ASSERT_FALSE(domains.ok());
  EXPECT_EQ(domains.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(domains.status().message().find("/nonexistent/powercap"), std::string::npos);
}

ofa::v1::Device CpuSlot(int index) {
  ofa::v1::Device d;
  d.set_index(index);
  d.set_kind(ofa::v1::DEVICE_KIND_CPU);
  return d;
}

TEST(EnergyMeterTest, RaplEnergyIsSharedByTrainerCpuTime) {
  FakePowercap powercap;
  powercap.AddDomain("intel-rapl:0", "package-0", 1'000'000'000, 0);
  powercap.AddDomain("intel-rapl:0:1", "dram", 1'000'000'000, 0);
  EnergyMeter meter({.devices = {CpuSlot(0), CpuSlot(1)}, .powercap_root = powercap.root()});
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  meter.Sample(t0, {}, {});
  powercap.Set("intel-rapl:0", 30'000'000);  // 30 J package + 10 J DRAM.
  powercap.Set("intel-rapl:0:1", 10'000'000);
  meter.Sample(t0 + absl::Seconds(2), {{0, 3.0}, {1, 1.0}}, {});
  EXPECT_DOUBLE_EQ(meter.Get(0).energy_joules, 30.0);
  EXPECT_DOUBLE_EQ(meter.Get(1).energy_joules, 10.0);
  EXPECT_DOUBLE_EQ(meter.Get(0).estimated_energy_joules, 0.0);
  EXPECT_DOUBLE_EQ(meter.Get(0).power_watts, 15.0);
  EXPECT_TRUE(meter.Get(0).measured);
  // Idle: the node's energy is shared equally.
  powercap.Set("intel-rapl:0", 34'000'000);
  meter.Sample(t0 + absl::Seconds(4), {}, {});
  EXPECT_DOUBLE_EQ(meter.Get(0).energy_joules, 32.0);
  EXPECT_DOUBLE_EQ(meter.Get(1).energy_joules, 12.0);
  EXPECT_NE(meter.Describe().find("RAPL (package-0, dram)"), std::string::npos);
}

TEST(EnergyMeterTest, WithoutRaplTheCpuModelIsLabelledEstimated) {
  EnergyMeter meter({.devices = {CpuSlot(0)},
                     .cores_per_cpu_slot = 2,
                     .cpu_watts_per_core = 6.0,
                     .idle_fraction = 0.3,
                     .powercap_root = "/nonexistent"});
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  meter.Sample(t0, {}, {});
  // 10 s at half of 2 cores: 12 W x (0.3 + 0.7 x 0.5) = 7.8 W.
  meter.Sample(t0 + absl::Seconds(10), {{0, 10.0}}, {});
  EXPECT_NEAR(meter.Get(0).energy_joules, 78.0, 1e-9);
  EXPECT_NEAR(meter.Get(0).estimated_energy_joules, 78.0, 1e-9);
  EXPECT_FALSE(meter.Get(0).measured);
  EXPECT_NE(meter.Describe().find("ESTIMATED"), std::string::npos);
}

TEST(EnergyMeterTest, GpuWithoutNvmlUsesItsPowerLimit) {
  ofa::v1::Device gpu;
  gpu.set_index(0);
  gpu.set_kind(ofa::v1::DEVICE_KIND_CUDA);
  gpu.set_power_limit_watts(300);
  gpu.set_index(3);
  EnergyMeter meter({.devices = {gpu}, .idle_fraction = 0.3, .use_nvml = false});
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  meter.Sample(t0, {}, {});
  meter.Sample(t0 + absl::Seconds(2), {}, {3});  // Busy: 300 W.
  meter.Sample(t0 + absl::Seconds(3), {}, {});   // Idle: 90 W.
  EXPECT_NEAR(meter.Get(3).energy_joules, 690.0, 1e-9);
  EXPECT_NEAR(meter.Get(3).estimated_energy_joules, 690.0, 1e-9);
  EXPECT_EQ(meter.Get(0).energy_joules, 0.0);  // Not a device of this meter.
}

}  // namespace
}  // namespace ofa::worker

// PyPI's LibTorch carries its own protobuf (and ONNX as onnx_torch), linked with hidden
// symbols. Our API protos and the ONNX export use Debian's protobuf 3.21 and libonnx. This
// test runs all three in one process: LibTorch computes, an ofa.v1 message round-trips
// through the binary and JSON formats, and an ONNX model of a sub-network is built, checked
// and parsed back; and every protobuf symbol we call binds to Debian's libprotobuf.
#include <dlfcn.h>

#include <string>

#include <google/protobuf/util/json_util.h>
#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ofa/v1/job_spec.pb.h"
#include "trainer/common/loaded_library_for_test.h"
#include "trainer/nn/perturbed_supernet_for_test.h"
#include "trainer/nn/subnet_export.h"
#include "trainer/onnx/onnx_export.h"

namespace ofa::trainer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// google::protobuf::MessageLite::SerializeAsString() const
constexpr char kSerializeAsString[] =
    "_ZNK6google8protobuf11MessageLite17SerializeAsStringB5cxx11Ev";

TEST(ProtobufBesideLibTorchTest, ProtobufSymbolsComeFromDebiansLibprotobuf) {
  void* torch_cpu = dlopen("libtorch_cpu.so", RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(torch_cpu, nullptr) << "libtorch_cpu.so is not loaded: " << dlerror();
  EXPECT_EQ(dlsym(torch_cpu, kSerializeAsString), nullptr) << "LibTorch exports protobuf";
  dlclose(torch_cpu);
  // RTLD_DEFAULT searches the process's global scope in the order our own calls bind.
  const void* serialize = dlsym(RTLD_DEFAULT, kSerializeAsString);
  ASSERT_NE(serialize, nullptr);
  EXPECT_THAT(LibraryDefining(serialize), HasSubstr("libprotobuf.so"));
  EXPECT_THAT(LibraryDefining(serialize), Not(HasSubstr("libtorch")));
}

TEST(ProtobufBesideLibTorchTest, OurProtosRoundTripWhileLibTorchRuns) {
  EXPECT_EQ(torch::arange(4).sum().item<int64_t>(), 6);
  ofa::v1::DeploymentTarget target;
  target.set_name("mcu");
  target.set_max_macs(12'000'000);
  target.set_max_latency_ms(2.5);
  ofa::v1::DeploymentTarget parsed;
  ASSERT_TRUE(parsed.ParseFromString(target.SerializeAsString()));
  EXPECT_EQ(parsed.name(), "mcu");
  EXPECT_EQ(parsed.max_macs(), 12'000'000);
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(target, &json).ok());
  EXPECT_THAT(json, HasSubstr("\"maxLatencyMs\":2.5"));
  ofa::v1::DeploymentTarget from_json;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &from_json).ok());
  EXPECT_EQ(from_json.max_latency_ms(), 2.5);
}

TEST(ProtobufBesideLibTorchTest, OnnxExportBuildsChecksAndParses) {
  OfaSupernet supernet =
      PerturbedSupernet(SupernetArchitecture::FromPreset("ofa_small_28").value(), 1);
  StandaloneSubnet subnet =
      ExportSubnet(supernet, supernet->architecture().Smallest()).value();
  absl::StatusOr<onnx::ModelProto> model = BuildOnnxModel(subnet, {});
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE(CheckOnnxModel(*model).ok());
  onnx::ModelProto parsed;
  ASSERT_TRUE(parsed.ParseFromString(model->SerializeAsString()));
  EXPECT_EQ(parsed.graph().node_size(), model->graph().node_size());
  EXPECT_GT(parsed.graph().initializer_size(), 0);
}

}  // namespace
}  // namespace ofa::trainer

#include "trainer/onnx/onnx_export.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "onnx/checker.h"
#include "onnx/shape_inference/implementation.h"

namespace ofa::trainer {
namespace {

// Keys the exporter writes itself; callers may not override them.
const char* const kOwnMetadataKeys[] = {"architecture", "macs",       "flops",    "params",
                                        "resolution",   "input_mean", "input_std"};

// A convolution's weight and bias with the following batch norm folded in (eval
// mode): w' = w * g / sqrt(var + eps) per output channel, b' = beta - mean * g
// / sqrt(var + eps). Computed in float64 so folding adds no rounding beyond the
// final float32 cast.
std::pair<torch::Tensor, torch::Tensor> FoldBatchNorm(const torch::nn::Conv2d& conv,
                                                      const torch::nn::BatchNorm2d& bn) {
  const torch::Tensor scale = bn->weight.to(torch::kFloat64) /
                              torch::sqrt(bn->running_var.to(torch::kFloat64) + bn->options.eps());
  const torch::Tensor weight = conv->weight.to(torch::kFloat64) * scale.view({-1, 1, 1, 1});
  const torch::Tensor bias =
      bn->bias.to(torch::kFloat64) - bn->running_mean.to(torch::kFloat64) * scale;
  return {weight.to(torch::kFloat32), bias.to(torch::kFloat32)};
}

// Appends nodes and initialisers to one graph; each method returns its output's
// name.
class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto* graph) : graph_(graph) {}

  std::string Initializer(const std::string& name, const torch::Tensor& value) {
    const torch::Tensor t = value.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    onnx::TensorProto* tensor = graph_->add_initializer();
    tensor->set_name(name);
    tensor->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : t.sizes()) tensor->add_dims(d);
    tensor->set_raw_data(t.data_ptr(), t.numel() * sizeof(float));
    return name;
  }

  // Conv with kernel, stride and group taken from the weight, "same" padding
  // (kernel / 2).
  std::string Conv(const std::string& x, const std::string& name, const torch::Tensor& weight,
                   const torch::Tensor& bias, int64_t stride, int64_t groups) {
    std::vector<std::string> inputs = {x, Initializer(name + ".weight", weight)};
    if (bias.defined()) inputs.push_back(Initializer(name + ".bias", bias));
    onnx::NodeProto* node = Node("Conv", inputs, name);
    const int64_t k = weight.size(2);
    Ints(node, "kernel_shape", {k, weight.size(3)});
    Ints(node, "strides", {stride, stride});
    Ints(node, "pads", {k / 2, k / 2, k / 2, k / 2});
    Int(node, "group", groups);
    return name;
  }

  std::string ConvBn(const std::string& x, const std::string& name, const torch::nn::Conv2d& conv,
                     const torch::nn::BatchNorm2d& bn) {
    auto [weight, bias] = FoldBatchNorm(conv, bn);
    return Conv(x, name, weight, bias, conv->options.stride()->at(0), conv->options.groups());
  }

  std::string Unary(const std::string& op, const std::string& x, const std::string& name) {
    Node(op, {x}, name);
    return name;
  }

  std::string Activation(const std::string& x, bool hswish, const std::string& name) {
    return Unary(hswish ? "HardSwish" : "Relu", x, name);
  }

  // torch::hardsigmoid is relu6(x + 3) / 6: ONNX's HardSigmoid with alpha 1/6,
  // beta 1/2 (its defaults are 0.2 and 0.5, which would be wrong).
  std::string HardSigmoid(const std::string& x, const std::string& name) {
    onnx::NodeProto* node = Node("HardSigmoid", {x}, name);
    Float(node, "alpha", 1.0f / 6.0f);
    Float(node, "beta", 0.5f);
    return name;
  }

  std::string Binary(const std::string& op, const std::string& a, const std::string& b,
                     const std::string& name) {
    Node(op, {a, b}, name);
    return name;
  }

  std::string Flatten(const std::string& x, const std::string& name) {
    Int(Node("Flatten", {x}, name), "axis", 1);
    return name;
  }

  // output = x W^T + b, as torch::nn::Linear.
  void Gemm(const std::string& x, const std::string& name, const torch::nn::Linear& fc,
            const std::string& output) {
    onnx::NodeProto* node =
        Node("Gemm",
             {x, Initializer(name + ".weight", fc->weight), Initializer(name + ".bias", fc->bias)},
             output);
    node->set_name(name);
    Int(node, "transB", 1);
  }

 private:
  onnx::NodeProto* Node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::string& output) {
    onnx::NodeProto* node = graph_->add_node();
    node->set_op_type(op);
    node->set_name(output);
    for (const std::string& input : inputs) node->add_input(input);
    node->add_output(output);
    return node;
  }
  static void Int(onnx::NodeProto* node, const std::string& name, int64_t value) {
    onnx::AttributeProto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(value);
  }
  static void Ints(onnx::NodeProto* node, const std::string& name,
                   const std::vector<int64_t>& values) {
    onnx::AttributeProto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : values) a->add_ints(v);
  }
  static void Float(onnx::NodeProto* node, const std::string& name, float value) {
    onnx::AttributeProto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(value);
  }

  onnx::GraphProto* graph_;
};

// One MBConv block, as StandaloneBlockImpl::forward.
std::string EmitBlock(GraphBuilder& g, StandaloneBlockImpl& block, const std::string& x,
                      const std::string& name) {
  const StandaloneBlockLayout& l = block.layout();
  std::string y = x;
  if (l.has_expand) {
    y = g.Activation(g.ConvBn(y, name + ".expand", block.expand, block.expand_bn), l.hswish,
                     name + ".expand_act");
  }
  y = g.Activation(g.ConvBn(y, name + ".depthwise", block.depthwise, block.depthwise_bn), l.hswish,
                   name + ".depthwise_act");
  if (l.squeeze_channels > 0) {
    // The SE linears act on pooled [N, C] features; as 1x1 convolutions on [N,
    // C, 1, 1] the pooled tensor needs no reshape and the scale broadcasts over
    // H and W in Mul.
    const std::string pooled = g.Unary("GlobalAveragePool", y, name + ".se_pool");
    const torch::Tensor& w1 = block.se_reduce->weight;
    const torch::Tensor& w2 = block.se_expand->weight;
    std::string s = g.Conv(pooled, name + ".se_reduce", w1.view({w1.size(0), w1.size(1), 1, 1}),
                           block.se_reduce->bias, 1, 1);
    s = g.Unary("Relu", s, name + ".se_relu");
    s = g.Conv(s, name + ".se_expand", w2.view({w2.size(0), w2.size(1), 1, 1}),
               block.se_expand->bias, 1, 1);
    s = g.HardSigmoid(s, name + ".se_gate");
    y = g.Binary("Mul", y, s, name + ".se_scale");
  }
  y = g.ConvBn(y, name + ".project", block.project, block.project_bn);
  return l.residual() ? g.Binary("Add", y, x, name + ".residual") : y;
}

void SetTensorType(onnx::ValueInfoProto* value, const std::string& name, int64_t batch_size,
                   const std::vector<int64_t>& dims) {
  value->set_name(name);
  onnx::TypeProto_Tensor* tensor = value->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto* shape = tensor->mutable_shape();
  if (batch_size > 0) {
    shape->add_dim()->set_dim_value(batch_size);
  } else {
    shape->add_dim()->set_dim_param("batch");
  }
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

void AddMetadata(onnx::ModelProto& model, const std::string& key, const std::string& value) {
  onnx::StringStringEntryProto* entry = model.add_metadata_props();
  entry->set_key(key);
  entry->set_value(value);
}

}  // namespace

absl::StatusOr<onnx::ModelProto> BuildOnnxModel(StandaloneSubnet& subnet,
                                                const OnnxExportOptions& options) {
  if (options.batch_size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch_size: want 0 (dynamic) or a positive size, got ", options.batch_size));
  }
  for (const char* key : kOwnMetadataKeys) {
    if (options.metadata.count(key) > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata key \"", key, "\" is written by the exporter itself"));
    }
  }
  const StandaloneLayout& layout = subnet->layout();
  torch::NoGradGuard no_grad;

  onnx::ModelProto model;
  model.set_ir_version(kOnnxIrVersion);
  model.set_producer_name("ofa-train");
  model.set_producer_version("1");
  model.set_model_version(1);
  model.set_doc_string(
      "A once-for-all sub-network exported by ofa-train: "
      "batch norm folded, eval mode. Input: "
      "float32 images normalised per channel with metadata "
      "input_mean / input_std.");
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);

  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name("ofa_subnet");
  SetTensorType(graph->add_input(), kOnnxInputName, options.batch_size,
                {layout.input_channels, layout.resolution, layout.resolution});
  SetTensorType(graph->add_output(), kOnnxOutputName, options.batch_size, {layout.num_classes});

  GraphBuilder g(graph);
  std::string y = g.Activation(g.ConvBn(kOnnxInputName, "stem", subnet->stem, subnet->stem_bn),
                               /*hswish=*/true, "stem_act");
  for (size_t i = 0; i < subnet->blocks.size(); ++i) {
    y = EmitBlock(g, *subnet->blocks[i], y, absl::StrCat("blocks.", i));
  }
  y = g.Activation(g.ConvBn(y, "final_expand", subnet->final_expand, subnet->final_expand_bn), true,
                   "final_expand_act");
  y = g.Unary("GlobalAveragePool", y, "pool");
  y = g.Conv(y, "feature_mix", subnet->feature_mix->weight, torch::Tensor(), 1, 1);
  y = g.Flatten(g.Activation(y, true, "feature_mix_act"), "features");
  g.Gemm(y, "classifier", subnet->classifier, kOnnxOutputName);

  const nlohmann::json& meta = layout.metadata;
  nlohmann::json architecture = {{"resolution", layout.resolution}};
  for (const char* key : {"kernel_sizes", "expand_ratios", "depths"}) {
    if (meta.contains(key)) architecture[key] = meta[key];
  }
  architecture["layout"] = layout.ToJson();
  architecture["layout"].erase("metadata");
  AddMetadata(model, "architecture", architecture.dump());
  if (meta.contains("macs")) {
    AddMetadata(model, "macs", std::to_string(meta["macs"].get<int64_t>()));
    // FLOPs as multiply-adds counted twice; the OFA paper's "MFLOPs" are the
    // MACs above.
    AddMetadata(model, "flops", std::to_string(2 * meta["macs"].get<int64_t>()));
  }
  AddMetadata(model, "params", std::to_string(subnet->NumParameters()));
  AddMetadata(model, "resolution", std::to_string(layout.resolution));
  for (const char* key : {"input_mean", "input_std"}) {
    if (meta.contains(key)) AddMetadata(model, key, meta[key].dump());
  }
  for (const auto& [key, value] : options.metadata) AddMetadata(model, key, value);
  return model;
}

absl::Status CheckOnnxModel(const onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
    // Strict inference on a copy: a node whose output shape does not follow
    // from its inputs, or a graph whose inferred output differs from the
    // declared one, throws.
    onnx::ModelProto inferred = model;
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true,
                                                                   /*strict_mode=*/1));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("ONNX checker: ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status WriteOnnxModel(StandaloneSubnet& subnet, const OnnxExportOptions& options,
                            const std::string& path) {
  absl::StatusOr<onnx::ModelProto> model = BuildOnnxModel(subnet, options);
  if (!model.ok()) return model.status();
  if (absl::Status checked = CheckOnnxModel(*model); !checked.ok()) {
    return absl::InternalError(
        absl::StrCat("the exported model is not valid: ", checked.message()));
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out || !model->SerializeToOstream(&out) || !out.flush()) {
      std::remove(tmp.c_str());
      return absl::InternalError(absl::StrCat("cannot write ", tmp));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::InternalError(absl::StrCat("renaming to ", path, ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<onnx::ModelProto> ReadOnnxModel(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  onnx::ModelProto model;
  if (!model.ParseFromIstream(&in)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not an ONNX model (protobuf)"));
  }
  if (absl::Status checked = CheckOnnxModel(model); !checked.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", checked.message()));
  }
  return model;
}

}  // namespace ofa::trainer

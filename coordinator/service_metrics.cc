#include "coordinator/service_metrics.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "prometheus/metric_family.h"

namespace ofa::coordinator {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily& Family(std::vector<MetricFamily>& families, const std::string& name,
                     const std::string& help, MetricType type) {
  MetricFamily& f = families.emplace_back();
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

void Add(MetricFamily& family, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric& m = family.metric.emplace_back();
  m.label = std::move(labels);
  if (family.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
}

std::string StateName(ofa::v1::JobState state) {
  std::string name = ofa::v1::JobState_Name(state);
  const std::string prefix = "JOB_STATE_";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace

std::vector<MetricFamily> SchedulerCollectable::Collect() const {
  std::vector<MetricFamily> families;
  absl::StatusOr<Scheduler::Snapshot> snapshot = scheduler_.TakeSnapshot(scheduler_.Now());
  MetricFamily& up =
      Family(families, "ofa_coordinator_snapshot_ok",
             "1 if the coordinator could read its state for this scrape.", MetricType::Gauge);
  Add(up, {}, snapshot.ok() ? 1 : 0);
  if (!snapshot.ok()) return families;
  const Scheduler::Snapshot& s = *snapshot;

  // Per job and phase, from the carbon ledger.
  struct LedgerMetric {
    const char* name;
    const char* help;
    double (*get)(const ofa::v1::CarbonTotals&);
  };
  const LedgerMetric ledger_metrics[] = {
      {"energy_joules_total", "Energy drawn by the devices, before PUE, in joules.",
       [](const ofa::v1::CarbonTotals& t) { return t.energy_joules(); }},
      {"estimated_energy_joules_total",
       "The part of the energy estimated by the power model (no hardware counter), in joules.",
       [](const ofa::v1::CarbonTotals& t) { return t.estimated_energy_joules(); }},
      {"wasted_energy_joules_total", "Energy of failed or interrupted attempts, in joules.",
       [](const ofa::v1::CarbonTotals& t) { return t.wasted_energy_joules(); }},
      {"co2_grams_total", "CO2-equivalent emitted: energy x PUE x grid intensity, in grams.",
       [](const ofa::v1::CarbonTotals& t) { return t.co2_grams(); }},
      {"device_seconds_total",
       "Wall time of held devices summed over devices (GPU-seconds on GPUs), in seconds.",
       [](const ofa::v1::CarbonTotals& t) { return t.device_seconds(); }},
      {"training_flops_total", "Training floating-point operations (analytic).",
       [](const ofa::v1::CarbonTotals& t) { return t.training_flops(); }},
  };
  for (const LedgerMetric& metric : ledger_metrics) {
    MetricFamily& per_job =
        Family(families, absl::StrCat("ofa_", metric.name),
               absl::StrCat(metric.help, " By job and phase (jobs live or active in 24 h)."),
               MetricType::Counter);
    for (const EnergyLedger::JobPhaseTotals& p : s.recent_phases) {
      Add(per_job, {{"job_id", p.job_id}, {"phase", p.phase}}, metric.get(p.totals));
    }
    MetricFamily& fleet = Family(families, absl::StrCat("ofa_fleet_", metric.name),
                                 absl::StrCat(metric.help, " All jobs ever."), MetricType::Counter);
    Add(fleet, {}, metric.get(s.all_time));
  }

  // What the carbon reports of those jobs say: OFA's saving and the carbon-aware one.
  MetricFamily& scratch =
      Family(families, "ofa_from_scratch_co2_grams",
             "Estimated CO2 of training each deployment target from scratch instead, in grams.",
             MetricType::Gauge);
  MetricFamily& saved =
      Family(families, "ofa_co2_saved_grams",
             "From-scratch CO2 of all targets minus the job's CO2, in grams.", MetricType::Gauge);
  MetricFamily& aware = Family(families, "ofa_carbon_aware_saved_grams",
                               "CO2 avoided by carbon-aware delays of the job's phases, in grams.",
                               MetricType::Gauge);
  for (const ofa::v1::CarbonReport& report : s.recent_reports) {
    for (const ofa::v1::CounterfactualCost& c : report.from_scratch()) {
      Add(scratch, {{"job_id", report.job_id()}, {"target", c.target()}}, c.co2_grams());
    }
    if (report.from_scratch_size() > 0) {
      Add(saved, {{"job_id", report.job_id()}}, report.co2_saved_grams());
    }
    Add(aware, {{"job_id", report.job_id()}}, report.carbon_aware_saved_grams());
  }

  MetricFamily& power =
      Family(families, "ofa_device_power_watts",
             "Device power over the worker's last metering interval.", MetricType::Gauge);
  MetricFamily& busy =
      Family(families, "ofa_device_busy", "1 if a task holds the device.", MetricType::Gauge);
  MetricFamily& workers =
      Family(families, "ofa_workers", "Registered workers by state.", MetricType::Gauge);
  int ready = 0, draining = 0;
  for (const Scheduler::Snapshot::WorkerInfo& w : s.workers) {
    (w.draining ? draining : ready) += 1;
    for (const auto& [device, held] : w.busy) {
      Add(busy, {{"worker", w.hostname}, {"device", std::to_string(device)}}, held ? 1 : 0);
    }
    for (const ofa::v1::DeviceEnergy& e : w.energy) {
      Add(power,
          {{"worker", w.hostname},
           {"device", std::to_string(e.device_index())},
           {"measured", e.measured() ? "true" : "false"}},
          e.power_watts());
    }
  }
  Add(workers, {{"state", "ready"}}, ready);
  Add(workers, {{"state", "draining"}}, draining);

  MetricFamily& intensity =
      Family(families, "ofa_grid_carbon_intensity_grams_per_kwh",
             "Grid carbon intensity now, by region (time series or table).", MetricType::Gauge);
  for (const auto& [region, value] : s.intensity_by_region) {
    Add(intensity, {{"region", region}}, value);
  }

  MetricFamily& jobs = Family(families, "ofa_jobs", "Jobs by state.", MetricType::Gauge);
  for (ofa::v1::JobState state :
       {ofa::v1::JOB_STATE_QUEUED, ofa::v1::JOB_STATE_RUNNING, ofa::v1::JOB_STATE_SUCCEEDED,
        ofa::v1::JOB_STATE_FAILED, ofa::v1::JOB_STATE_CANCELLED}) {
    auto it = s.jobs_by_state.find(state);
    Add(jobs, {{"state", StateName(state)}}, it == s.jobs_by_state.end() ? 0 : it->second);
  }
  Add(Family(families, "ofa_phases_queued", "Phases waiting for free devices (scheduler queue).",
             MetricType::Gauge),
      {}, s.queued_phases);
  Add(Family(families, "ofa_tasks_running", "Trainer ranks placed and not yet ended.",
             MetricType::Gauge),
      {}, s.running_tasks);
  Add(Family(families, "ofa_workers_lost_total",
             "Workers declared lost (lease expired) since the coordinator started.",
             MetricType::Counter),
      {}, static_cast<double>(s.workers_lost_total));
  Add(Family(families, "ofa_phase_attempts_failed_total",
             "Phase attempts that failed since the coordinator started.", MetricType::Counter),
      {}, static_cast<double>(s.attempts_failed_total));
  Add(Family(families, "ofa_workers_deregistered_total",
             "Workers that left on purpose (drained) since the coordinator started.",
             MetricType::Counter),
      {}, static_cast<double>(s.workers_deregistered_total));
  Add(Family(families, "ofa_phase_attempts_preempted_total",
             "Phase attempts stopped by a node drain after a checkpoint (resumed elsewhere) "
             "since the coordinator started.",
             MetricType::Counter),
      {}, static_cast<double>(s.attempts_preempted_total));

  MetricFamily& throughput =
      Family(families, "ofa_training_images_per_second",
             "Training throughput of running phases (all ranks).", MetricType::Gauge);
  MetricFamily& loss = Family(families, "ofa_training_loss",
                              "Recent training loss of running phases.", MetricType::Gauge);
  MetricFamily& progress = Family(families, "ofa_phase_progress_ratio",
                                  "Steps done / total steps of running phases.", MetricType::Gauge);
  for (const Scheduler::Snapshot::RunningPhase& p : s.running_phases) {
    const std::vector<ClientMetric::Label> labels = {{"job_id", p.job_id}, {"phase", p.phase}};
    Add(throughput, labels, p.progress.images_per_second());
    Add(loss, labels, p.progress.loss());
    Add(progress, labels,
        p.progress.total_steps() > 0
            ? static_cast<double>(p.progress.step()) / p.progress.total_steps()
            : 0.0);
  }
  return families;
}

namespace {

class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(GrpcMetrics& metrics, std::string method)
      : metrics_(metrics), method_(std::move(method)), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      metrics_.Observe(method_, methods->GetSendStatus().error_code(), seconds);
    }
    methods->Proceed();
  }

 private:
  GrpcMetrics& metrics_;
  std::string method_;
  std::chrono::steady_clock::time_point start_;
};

class MetricsInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(GrpcMetrics& metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, info->method() != nullptr ? info->method() : "");
  }

 private:
  GrpcMetrics& metrics_;
};

const char* CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

}  // namespace

GrpcMetrics::GrpcMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("ofa_grpc_server_requests_total")
                    .Help("gRPC requests handled, by full method name and status code.")
                    .Register(registry)),
      durations_(prometheus::BuildHistogram()
                     .Name("ofa_grpc_server_request_duration_seconds")
                     .Help("Time from a request's arrival to its status, by method.")
                     .Register(registry)) {}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
GrpcMetrics::InterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(*this);
}

void GrpcMetrics::Observe(const std::string& method, grpc::StatusCode code, double seconds) {
  // Method names come from the server's own services (unknown ones are answered before
  // interceptors run), so the label set stays bounded.
  requests_.Add({{"method", method}, {"code", CodeName(code)}}).Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60};
  durations_.Add({{"method", method}}, kBuckets).Observe(seconds);
}

}  // namespace ofa::coordinator

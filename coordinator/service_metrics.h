#ifndef OFA_COORDINATOR_SERVICE_METRICS_H_
#define OFA_COORDINATOR_SERVICE_METRICS_H_

#include <memory>
#include <vector>

#include "coordinator/scheduler.h"
#include "grpcpp/support/server_interceptor.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace ofa::coordinator {

// The coordinator's Prometheus metrics, in base units with _total on counters.
//
// Read from the scheduler (its ledger, store and fleet) at each scrape, so they survive
// restarts and always equal what GetCarbonReport says: per job and phase
// ofa_energy_joules_total, ofa_estimated_energy_joules_total, ofa_wasted_energy_joules_total,
// ofa_co2_grams_total, ofa_device_seconds_total, ofa_training_flops_total (jobs running or
// that used energy in the last 24 h only: bounded cardinality); the same fleet-wide without
// labels (ofa_fleet_*_total); ofa_device_power_watts and ofa_device_busy by worker/device;
// ofa_grid_carbon_intensity_grams_per_kwh by region; ofa_jobs by state;
// ofa_phases_queued; ofa_tasks_running; ofa_workers by state; ofa_workers_lost_total;
// ofa_phase_attempts_failed_total; ofa_training_images_per_second, ofa_training_loss and
// ofa_phase_progress_ratio by running job/phase; from those jobs' carbon reports
// ofa_from_scratch_co2_grams{job_id, target}, ofa_co2_saved_grams and
// ofa_carbon_aware_saved_grams. Jobs are labelled job_id: Prometheus keeps "job" for the
// scrape job.
class SchedulerCollectable : public prometheus::Collectable {
 public:
  explicit SchedulerCollectable(Scheduler& scheduler) : scheduler_(scheduler) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  Scheduler& scheduler_;
};

// gRPC server request counts (ofa_grpc_server_requests_total{method, code}) and latencies
// (ofa_grpc_server_request_duration_seconds{method}), from a server interceptor.
class GrpcMetrics {
 public:
  explicit GrpcMetrics(prometheus::Registry& registry);
  // For ServerBuilder::experimental().SetInterceptorCreators.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory();
  void Observe(const std::string& method, grpc::StatusCode code, double seconds);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& durations_;
};

}  // namespace ofa::coordinator

#endif  // OFA_COORDINATOR_SERVICE_METRICS_H_

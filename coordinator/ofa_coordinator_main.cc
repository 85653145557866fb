// ofa-coordinator: the control plane. Serves TrainingService (users, ofactl) and
// WorkerService (workers, trainer rendezvous) with gRPC health checking and reflection, keeps
// its state in <state_dir>/coordinator.db, and schedules phases onto the workers' devices.
//
//   ofa-coordinator --state_dir=/var/lib/ofa --listen=0.0.0.0:7070
//       [--tokens_file=tokens.txt] [--tls_cert=cert.pem --tls_key=key.pem [--tls_client_ca=ca.pem]]
//
// Killing it (even with -9) loses nothing submitted: started again on the same --state_dir,
// it lets the workers register again and resumes the interrupted phases from their newest
// checkpoints.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "coordinator/auth.h"
#include "coordinator/job_store.h"
#include "coordinator/rendezvous_table.h"
#include "coordinator/scheduler.h"
#include "coordinator/service_metrics.h"
#include "coordinator/training_service.h"
#include "coordinator/worker_service.h"
#include "prometheus/exposer.h"
#include "trainer/common/stop_signals.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7070", "host:port to serve gRPC on (port 0 = any).");
ABSL_FLAG(std::string, port_file, "", "Write the port actually bound to this file (tests).");
ABSL_FLAG(std::string, state_dir, "ofa-state", "Directory of the SQLite state (coordinator.db).");
ABSL_FLAG(std::string, tokens_file, "",
          "Bearer tokens, one \"<token> <role> <name>\" per line. Empty = no authentication "
          "(only for a single machine: every caller is admin).");
ABSL_FLAG(std::string, tls_cert, "", "PEM server certificate chain; enables TLS.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle: when set, clients must present a certificate it signed (mutual TLS).");
ABSL_FLAG(double, heartbeat_interval_s, 2, "Interval workers are told to heartbeat at.");
ABSL_FLAG(double, lease_s, 10, "A worker silent for this long is lost; its tasks are retried.");
ABSL_FLAG(double, user_calls_per_second, 50,
          "Calls each user (token, or address without tokens) may make per second on average; "
          "more are refused with RESOURCE_EXHAUSTED.");
ABSL_FLAG(std::string, rendezvous_address, "",
          "Address trainers reach this coordinator at; default: the one each worker dialled.");
ABSL_FLAG(std::string, health_listen, "",
          "host:port of a second, plaintext gRPC server with only the health service, for "
          "Kubernetes probes (kubelet's gRPC probes speak no TLS); empty = none. The main port "
          "serves the health service too.");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9464",
          "host:port of the Prometheus /metrics endpoint (port 0 = any); empty = none.");
ABSL_FLAG(std::string, metrics_port_file, "", "Write the metrics port bound to this file.");
ABSL_FLAG(std::string, default_region, "world",
          "Grid region of jobs that name none (a key of the region table).");
ABSL_FLAG(double, default_pue, 1.58,
          "Data-center PUE of jobs that give none (1.58: Uptime Institute 2023 average).");
ABSL_FLAG(std::string, region_table, "",
          "CSV \"region,g_per_kwh\" overriding the built-in region intensity table.");
ABSL_FLAG(std::vector<std::string>, intensity_series, {},
          "CSV files \"timestamp,region,g_per_kwh\" of grid intensity over time (comma-separated "
          "list); CO2 is looked up per metering interval, and carbon-aware starts use them.");

namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* flag) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str().empty()) {
    return absl::NotFoundError(absl::StrCat("--", flag, "=", path, ": cannot read the file"));
  }
  return text.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials() {
  const std::string cert = absl::GetFlag(FLAGS_tls_cert), key = absl::GetFlag(FLAGS_tls_key);
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  if (cert.empty()) {
    if (!absl::GetFlag(FLAGS_tls_client_ca).empty()) {
      return absl::InvalidArgumentError("--tls_client_ca needs --tls_cert and --tls_key");
    }
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions options;
  absl::StatusOr<std::string> chain = ReadFile(cert, "tls_cert");
  if (!chain.ok()) return chain.status();
  absl::StatusOr<std::string> private_key = ReadFile(key, "tls_key");
  if (!private_key.ok()) return private_key.status();
  options.pem_key_cert_pairs.push_back({*private_key, *chain});
  if (!absl::GetFlag(FLAGS_tls_client_ca).empty()) {
    absl::StatusOr<std::string> ca = ReadFile(absl::GetFlag(FLAGS_tls_client_ca), "tls_client_ca");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

void WritePortFile(const std::string& path, int port) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << port << "\n";
  std::rename(tmp.c_str(), path.c_str());
}

absl::StatusOr<std::unique_ptr<ofa::coordinator::CarbonIntensity>> LoadIntensity() {
  const double pue = absl::GetFlag(FLAGS_default_pue);
  if (!(pue >= 1 && pue <= 3)) {
    return absl::InvalidArgumentError(absl::StrCat("--default_pue=", pue, ": must be in [1, 3]"));
  }
  auto intensity = std::make_unique<ofa::coordinator::CarbonIntensity>(
      ofa::coordinator::CarbonIntensity::Options{
          .default_region = absl::GetFlag(FLAGS_default_region), .default_pue = pue});
  if (!absl::GetFlag(FLAGS_region_table).empty()) {
    if (absl::Status s = intensity->LoadRegionTable(absl::GetFlag(FLAGS_region_table)); !s.ok()) {
      return s;
    }
  }
  for (const std::string& file : absl::GetFlag(FLAGS_intensity_series)) {
    if (absl::Status s = intensity->LoadTimeSeries(file); !s.ok()) return s;
  }
  return intensity;
}

absl::Status Run() {
  std::unique_ptr<ofa::coordinator::Authenticator> auth;
  if (absl::GetFlag(FLAGS_tokens_file).empty()) {
    auth = ofa::coordinator::Authenticator::Open();
    absl::FPrintF(stderr,
                  "ofa-coordinator: no --tokens_file: authentication is OFF (every "
                  "caller is admin); use it only on a single machine\n");
  } else {
    absl::StatusOr<std::unique_ptr<ofa::coordinator::Authenticator>> loaded =
        ofa::coordinator::Authenticator::FromFile(absl::GetFlag(FLAGS_tokens_file));
    if (!loaded.ok()) return loaded.status();
    auth = *std::move(loaded);
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = Credentials();
  if (!credentials.ok()) return credentials.status();
  const double interval = absl::GetFlag(FLAGS_heartbeat_interval_s);
  const double lease = absl::GetFlag(FLAGS_lease_s);
  if (!(interval > 0 && interval <= 60) || !(lease >= 2 * interval && lease <= 3600)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--heartbeat_interval_s=%g must be in (0, 60] and --lease_s=%g in [2 x interval, 3600]",
        interval, lease));
  }

  absl::StatusOr<std::unique_ptr<ofa::coordinator::JobStore>> store =
      ofa::coordinator::JobStore::Open(absl::GetFlag(FLAGS_state_dir));
  if (!store.ok()) return store.status();
  absl::StatusOr<std::unique_ptr<ofa::coordinator::CarbonIntensity>> intensity = LoadIntensity();
  if (!intensity.ok()) return intensity.status();
  ofa::coordinator::RendezvousTable rendezvous;
  ofa::coordinator::Scheduler::Options options;
  options.intensity = intensity->get();
  options.heartbeat_interval = absl::Seconds(interval);
  options.lease = absl::Seconds(lease);
  options.rendezvous_address = absl::GetFlag(FLAGS_rendezvous_address);
  absl::StatusOr<std::unique_ptr<ofa::coordinator::Scheduler>> scheduler =
      ofa::coordinator::Scheduler::Recover(store->get(), &rendezvous, options, absl::Now());
  if (!scheduler.ok()) return scheduler.status();

  ofa::coordinator::TrainingServiceImpl training(**scheduler, *auth,
                                                 absl::GetFlag(FLAGS_user_calls_per_second));
  ofa::coordinator::WorkerServiceImpl workers(rendezvous, scheduler->get(), *auth);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  auto registry = std::make_shared<prometheus::Registry>();
  ofa::coordinator::GrpcMetrics grpc_metrics(*registry);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(grpc_metrics.InterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), *credentials, &port);
  builder.RegisterService(&training);
  builder.RegisterService(&workers);
  // Floods and oversized messages are refused at the door: a job spec is at most 1 MiB, and
  // a bounded thread pool keeps a burst of calls from starving the scheduling loop.
  builder.SetMaxReceiveMessageSize(2 << 20);
  grpc::ResourceQuota quota("ofa-coordinator");
  quota.SetMaxThreads(256);
  builder.SetResourceQuota(quota);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on --listen=", absl::GetFlag(FLAGS_listen)));
  }
  // Health only, plaintext: it tells nothing but SERVING / NOT_SERVING.
  std::unique_ptr<grpc::Server> health_server;
  if (!absl::GetFlag(FLAGS_health_listen).empty()) {
    grpc::ServerBuilder health_builder;
    int health_port = 0;
    health_builder.AddListeningPort(absl::GetFlag(FLAGS_health_listen),
                                    grpc::InsecureServerCredentials(), &health_port);
    health_server = health_builder.BuildAndStart();
    if (health_server == nullptr || health_port == 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on --health_listen=", absl::GetFlag(FLAGS_health_listen)));
    }
    absl::PrintF("ofa-coordinator: plaintext health service on port %d\n", health_port);
  }
  // Prometheus /metrics: the scheduler's state read at each scrape, plus gRPC counters.
  std::unique_ptr<prometheus::Exposer> exposer;
  auto collectable = std::make_shared<ofa::coordinator::SchedulerCollectable>(**scheduler);
  if (!absl::GetFlag(FLAGS_metrics_listen).empty()) {
    try {
      exposer = std::make_unique<prometheus::Exposer>(absl::GetFlag(FLAGS_metrics_listen));
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat(
          "cannot serve metrics on --metrics_listen=", absl::GetFlag(FLAGS_metrics_listen), ": ",
          e.what()));
    }
    exposer->RegisterCollectable(collectable);
    exposer->RegisterCollectable(registry);
    const std::vector<int> ports = exposer->GetListeningPorts();
    WritePortFile(absl::GetFlag(FLAGS_metrics_port_file), ports.empty() ? 0 : ports.front());
    absl::PrintF("ofa-coordinator: metrics on port %d (/metrics)\n",
                 ports.empty() ? 0 : ports.front());
  }
  // Last: the port file tells scripts and tests that everything is up.
  WritePortFile(absl::GetFlag(FLAGS_port_file), port);
  absl::PrintF("ofa-coordinator: serving on port %d, state in %s/coordinator.db; carbon: %s\n",
               port, absl::GetFlag(FLAGS_state_dir),
               (*intensity)->Describe(ofa::v1::CarbonSettings()));
  std::fflush(stdout);

  std::atomic<bool> stopping{false};
  std::thread loop([&] {
    while (!stopping.load()) {
      if (absl::Status s = (*scheduler)->Tick((*scheduler)->Now()); !s.ok()) {
        absl::FPrintF(stderr, "ofa-coordinator: scheduling: %s\n", s.ToString());
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
  });
  // SIGINT / SIGTERM: stop taking calls, finish the ones in flight, exit cleanly.
  const int signal = ofa::WaitForStopSignal();
  absl::PrintF("ofa-coordinator: signal %d, shutting down\n", signal);
  // Probes see NOT_SERVING while in-flight calls finish.
  for (grpc::Server* s : {server.get(), health_server.get()}) {
    if (s != nullptr && s->GetHealthCheckService() != nullptr) {
      s->GetHealthCheckService()->Shutdown();
    }
  }
  stopping = true;
  loop.join();
  if (health_server != nullptr) health_server->Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  exposer.reset();  // Before the scheduler its collectable reads.
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("The ofa-train control plane. --state_dir=DIR --listen=HOST:PORT");
  absl::ParseCommandLine(argc, argv);
  ofa::BlockStopSignals();  // Run() waits for them once the server is up.
  if (absl::Status s = Run(); !s.ok()) {
    absl::FPrintF(stderr, "ofa-coordinator: %s\n", s.ToString());
    return 2;
  }
  return 0;
}

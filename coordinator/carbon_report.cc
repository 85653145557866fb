#include "coordinator/carbon_report.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "coordinator/job_store.h"
#include "trainer/nn/subnet_cost.h"
#include "trainer/nn/supernet_architecture.h"

namespace ofa::coordinator {
namespace {

// Images per epoch of the training split, from a phase whose progress gave its total steps.
double ImagesPerEpoch(const ofa::v1::Job& job) {
  const ofa::v1::ResourceSpec& r = job.spec().resources();
  const int world = std::max(1, r.workers()) * std::max(1, r.devices_per_worker());
  const int batch = job.spec().dataset().batch_size_per_device();
  for (const ofa::v1::PhaseStatus& phase : job.phases()) {
    if (phase.progress().total_steps() > 0 && phase.spec().epochs() > 0 && batch > 0) {
      return static_cast<double>(phase.progress().total_steps()) / phase.spec().epochs() * batch *
             world;
    }
  }
  return 0;
}

void AddCounterfactual(const ofa::v1::Job& job, const std::vector<ofa::v1::Subnet>& subnets,
                       ofa::v1::CarbonReport& report) {
  if (job.spec().targets().empty()) {
    report.set_counterfactual_note("the job has no deployment targets");
    return;
  }
  // The from-scratch runs would only train, so they are costed at the training phases'
  // joules per FLOP and grams per joule (the specialise phase does no training FLOPs).
  ofa::v1::CarbonTotals training;
  for (int i = 0; i < job.phases_size() && i < report.phases_size(); ++i) {
    if (job.phases(i).spec().kind() == ofa::v1::PHASE_KIND_SPECIALIZE) continue;
    const ofa::v1::CarbonTotals& t = report.phases(i).totals();
    training.set_energy_joules(training.energy_joules() + t.energy_joules());
    training.set_co2_grams(training.co2_grams() + t.co2_grams());
    training.set_training_flops(training.training_flops() + t.training_flops());
  }
  const double images_per_epoch = ImagesPerEpoch(job);
  if (images_per_epoch <= 0 || training.training_flops() <= 0 || training.energy_joules() <= 0) {
    report.set_counterfactual_note(
        "not yet: it needs a phase's step count and this job's measured energy per FLOP");
    return;
  }
  absl::StatusOr<trainer::SupernetArchitecture> arch =
      trainer::SupernetArchitecture::FromSpec(job.spec().supernet());
  if (!arch.ok()) {
    report.set_counterfactual_note(absl::StrCat("supernet: ", arch.status().message()));
    return;
  }
  const int64_t largest_macs = trainer::ComputeSubnetCost(*arch, arch->Largest()).macs;
  int epochs = 0;
  for (const ofa::v1::PhaseStatus& phase : job.phases()) {
    if (phase.spec().kind() != ofa::v1::PHASE_KIND_SPECIALIZE) epochs += phase.spec().epochs();
  }
  const double joules_per_flop = training.energy_joules() / training.training_flops();
  const double grams_per_joule = training.co2_grams() / training.energy_joules();
  double scratch_grams = 0;
  int chosen = 0;
  for (const ofa::v1::DeploymentTarget& target : job.spec().targets()) {
    auto subnet = std::find_if(subnets.begin(), subnets.end(), [&](const ofa::v1::Subnet& s) {
      return s.target() == target.name();
    });
    int64_t macs =
        target.max_macs() > 0 ? std::min(target.max_macs(), largest_macs) : largest_macs;
    if (subnet != subnets.end()) {
      macs = subnet->cost().macs();
      ++chosen;
    }
    ofa::v1::CounterfactualCost* c = report.add_from_scratch();
    c->set_target(target.name());
    c->set_training_flops(epochs * images_per_epoch * 6.0 * static_cast<double>(macs));
    c->set_energy_joules(c->training_flops() * joules_per_flop);
    c->set_co2_grams(c->energy_joules() * grams_per_joule);
    scratch_grams += c->co2_grams();
  }
  report.set_co2_saved_grams(scratch_grams - report.total().co2_grams());
  report.set_counterfactual_note(absl::StrFormat(
      "each target's sub-network trained alone for %d epochs of %.0f images at this job's "
      "training cost of %.3g J per FLOP%s",
      epochs, images_per_epoch, joules_per_flop,
      chosen == job.spec().targets_size()
          ? " (the sub-networks the specialise phase chose)"
          : "; until the specialise phase chooses them, each target's MAC budget (capped at "
            "the largest sub-network) stands in for its sub-network"));
}

}  // namespace

ofa::v1::CarbonReport BuildCarbonReport(
    const ofa::v1::Job& job, const std::map<std::string, EnergyLedger::PhaseTotals>& ledger,
    const CarbonIntensity& intensity, const std::vector<ofa::v1::Subnet>& subnets) {
  ofa::v1::CarbonReport report;
  report.set_job_id(job.id());
  const ofa::v1::CarbonSettings& settings = job.spec().carbon();
  double saved = 0;
  for (const ofa::v1::PhaseStatus& phase : job.phases()) {
    ofa::v1::PhaseCarbon* p = report.add_phases();
    p->set_phase(phase.spec().name());
    auto it = ledger.find(phase.spec().name());
    if (it == ledger.end()) continue;
    *p->mutable_totals() = it->second.totals;
    p->set_attempts(it->second.attempts);
    if (phase.has_carbon_aware_delay()) {
      *p->mutable_carbon_aware_delay() = phase.carbon_aware_delay();
      const absl::Duration delay = DurationOf(phase.carbon_aware_delay());
      const double kwh_at_pue = it->second.totals.energy_joules() / 3.6e6 * intensity.Pue(settings);
      const double undelayed =
          kwh_at_pue * intensity.MeanIntensity(settings, it->second.first_use - delay,
                                               it->second.last_use - delay);
      p->set_carbon_aware_saved_grams(undelayed - it->second.totals.co2_grams());
      saved += p->carbon_aware_saved_grams();
    }
  }
  *report.mutable_total() = EnergyLedger::Sum(ledger);
  report.set_carbon_aware_saved_grams(saved);
  report.set_intensity_source_description(intensity.Describe(settings));
  AddCounterfactual(job, subnets, report);
  return report;
}

}  // namespace ofa::coordinator

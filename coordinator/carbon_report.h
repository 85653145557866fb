#ifndef OFA_COORDINATOR_CARBON_REPORT_H_
#define OFA_COORDINATOR_CARBON_REPORT_H_

#include <map>
#include <string>
#include <vector>

#include "coordinator/carbon_intensity.h"
#include "coordinator/energy_ledger.h"
#include "ofa/v1/carbon.pb.h"
#include "ofa/v1/job.pb.h"
#include "ofa/v1/subnet.pb.h"

namespace ofa::coordinator {

// GetCarbonReport's answer for `job` from its ledger totals (by phase name):
//  - per phase and in total: device-seconds, energy, estimated share, CO2, FLOPs, waste;
//  - carbon-aware start: each delayed phase's CO2 at the intensity it would have met had it
//    started at once (the same energy, the window shifted back by the delay), minus its CO2;
//  - the counterfactual: each deployment target's sub-network trained from scratch for as
//    many epochs as the whole schedule (ScratchBaselineJob's definition), FLOPs = epochs x
//    images per epoch x 6 x its MACs, costed at this job's training phases' joules per FLOP
//    and grams per joule. `subnets` are the specialise phase's choices; a target without one
//    (yet) is costed at its MAC budget capped at the largest sub-network, and
//    counterfactual_note says so.
ofa::v1::CarbonReport BuildCarbonReport(
    const ofa::v1::Job& job, const std::map<std::string, EnergyLedger::PhaseTotals>& ledger,
    const CarbonIntensity& intensity, const std::vector<ofa::v1::Subnet>& subnets = {});

}  // namespace ofa::coordinator

#endif  // OFA_COORDINATOR_CARBON_REPORT_H_

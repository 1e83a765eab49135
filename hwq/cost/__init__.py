"""hwq's cost model (``hwq estimate``): work, bytes, energy and time per layer and target.

Counts are kept apart from the energy tables (data files in ``energy_tables/``) and from the
targets (parameter sets plus the code turning counts into time and traffic), as in
Timeloop/Accelergy. docs/estimate.md describes every count, formula and unit.

    from hwq.cost.estimate import estimate_model
    report = estimate_model(model, target="generic")
"""

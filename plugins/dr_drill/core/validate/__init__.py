"""What proves a restore right beyond count and digest: plan rules, samples, fidelity, localisation."""

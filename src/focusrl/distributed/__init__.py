"""Scale-out: Ray rollout workers, weight broadcast, asynchronous rollout with bounded staleness."""

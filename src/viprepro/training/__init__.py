"""Running a training job: the engine, optimisers, data loading, checkpoints, and the guards around it."""

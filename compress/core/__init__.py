"""What the stages share: data and its roles, model loading and anatomy, the training loop and losses, artifacts and
manifests, settings, serving, progress, and the command registry. Imports nothing above it."""

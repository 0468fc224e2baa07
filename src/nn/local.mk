# src/nn: see docs/architecture.md

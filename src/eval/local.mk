# src/eval: see docs/architecture.md

# src/face: see docs/architecture.md

# src/img: see docs/architecture.md

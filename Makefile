.PHONY: install lint typecheck test bench

install:
	pip install -e ".[dev]"

lint:
	ruff check src tests bench

typecheck:
	mypy

test:
	pytest -q

bench:
	python bench/cli_startup.py
	python bench/overhead.py
	python bench/storage.py

# Catalog task runner. `just` lists the recipes; each runs what CI runs.

set dotenv-load := false
set shell := ["bash", "-cu"]

pg_url := "postgres://postgres@127.0.0.1:5432/catalog"
compose := "docker compose -f deploy/docker-compose.yml"

# List the recipes
default:
    @just --list

# Serve a debug build on the embedded SQLite default (catalog.db)
dev:
    cargo run -- serve

# Serve a release build on the embedded SQLite default (catalog.db)
run:
    cargo run --release -- serve

# Run every test in the workspace (the README's test command)
test:
    cargo test --workspace

# Run the CI script: start PostgreSQL and Redis if needed, then lint and test
ci:
    bash .ci/run

# Check formatting and run clippy with warnings as errors
lint:
    cargo fmt --all -- --check && cargo clippy --workspace --all-targets -- -D warnings

# Format the workspace
fmt:
    cargo fmt --all

# Bring the database up to at least `count` products
seed count="100000":
    cargo run --release -- seed --count {{ count }}

# Apply pending migrations and exit
migrate:
    cargo run --release -- migrate

# Serve on the local PostgreSQL (creates database `catalog` if missing)
pg-run: _pg-db
    DATABASE_URL={{ pg_url }} cargo run --release -- serve

# Serve on the local PostgreSQL with the cache in the local Redis
pg-redis-run: _pg-db
    DATABASE_URL={{ pg_url }} REDIS_URL=redis://127.0.0.1:6379 cargo run --release -- serve

_pg-db:
    psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='catalog'" | grep -q 1 || createdb -h 127.0.0.1 -U postgres catalog

# Run the benchmarks (bench/run.sh): seed, latency, cache, scale, writes, writes-ab (BASE_BIN=...), bulk, bulk-baseline (BASE_BIN=...), ab-rows (BASE_BIN=... NEW_BIN=...), or all
bench *args:
    bash bench/run.sh {{ args }}

# Soak: 1M products on PostgreSQL, 200 connections, 10 minutes of mixed reads and writes (bench/soak.sh)
soak:
    bash bench/soak.sh

# Regenerate docs/openapi.json from the code
openapi:
    cargo run --quiet -- openapi > docs/openapi.json.tmp && mv docs/openapi.json.tmp docs/openapi.json || { rm -f docs/openapi.json.tmp; false; }

# Print a write-scoped JWT signed with CATALOG_JWT_SECRET
token sub="dev":
    cargo run --release -- token --sub '{{ sub }}' --scope products:write

# Build and start the Docker Compose stack (app, PostgreSQL, Redis)
up:
    {{ compose }} up --build -d

# Stop the Docker Compose stack (the pgdata volume is kept)
down:
    {{ compose }} down

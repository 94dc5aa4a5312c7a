#!/usr/bin/env bash
# Opens JShell with pgmigrate (api, core, testkit) on the class path and runs src/main/jshell/migrate.jsh.
# Usage, from the project root: ./pgmigrate-examples/jshell.sh [script.jsh]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mvn -q -DskipTests -pl pgmigrate-examples -am install
mvn -q -pl pgmigrate-examples dependency:build-classpath -Dmdep.outputFile="$root/pgmigrate-examples/target/jshell.classpath"
cp="pgmigrate-examples/target/classes:$(cat pgmigrate-examples/target/jshell.classpath)"
exec jshell --class-path "$cp" "${1:-pgmigrate-examples/src/main/jshell/migrate.jsh}"

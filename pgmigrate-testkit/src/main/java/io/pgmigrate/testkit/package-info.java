/**
 * Real PostgreSQL servers of a chosen major version for tests: {@link io.pgmigrate.testkit.EmbeddedPostgresServer}
 * from Maven-provided binaries, {@link io.pgmigrate.testkit.ContainerPostgresServer} from Docker images, and the
 * JUnit 5 annotation {@link io.pgmigrate.testkit.PostgresPair} that injects a source and a target server.
 */
package io.pgmigrate.testkit;

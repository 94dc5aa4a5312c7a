package io.pgmigrate.testkit;

/** Where the servers of a {@link PostgresPair} come from. */
public enum ServerProvider {
    /** Embedded servers from zonky's binaries: no Docker needed; the default. */
    EMBEDDED,
    /** {@code postgres:<major>} Docker containers on a shared network; tests are skipped when Docker is missing. */
    TESTCONTAINERS
}

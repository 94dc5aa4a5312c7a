package io.pgmigrate;

import java.time.Instant;
import java.util.List;

/**
 * A snapshot of a whole migration, one entry per database.
 *
 * @param name      the migration's name
 * @param takenAt   when the snapshot was taken
 * @param databases per-database status, in the order the databases were configured
 * @since 0.1.0
 */
public record MigrationStatus(String name, Instant takenAt, List<DatabaseStatus> databases) {

    /**
     * Makes an unmodifiable copy of {@code databases}.
     *
     * @param name      the migration's name
     * @param takenAt   when the snapshot was taken
     * @param databases per-database status, in the order the databases were configured
     */
    public MigrationStatus {
        databases = List.copyOf(databases);
    }

    /**
     * Total replication lag across all databases, in WAL bytes.
     *
     * @return the sum of every database's {@link DatabaseStatus#lagBytes()}; 0 when none lags
     */
    public long totalLagBytes() {
        return databases.stream().mapToLong(DatabaseStatus::lagBytes).sum();
    }

    /**
     * The status of one database.
     *
     * @param database the database's name
     * @return its status
     * @throws IllegalArgumentException when {@code database} is not part of the migration
     */
    public DatabaseStatus database(String database) {
        return databases.stream().filter(d -> d.database().equals(database)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("database '" + database + "' is not part of migration " + name));
    }
}

package io.pgmigrate.spi;

import io.pgmigrate.Migration;
import io.pgmigrate.MigrationConfig;
import io.pgmigrate.SchemaDiff;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * The implementation of the API, found with {@link java.util.ServiceLoader}. pgmigrate-core registers one in
 * {@code META-INF/services/io.pgmigrate.spi.MigrationProvider}.
 *
 * @since 0.1.0
 */
public interface MigrationProvider {

    /**
     * Creates a migration from a configuration that {@code build()} has already validated.
     *
     * @param config the validated configuration
     * @return the migration, which has opened no connection yet
     */
    Migration create(MigrationConfig config);

    /**
     * Compares the schemas of the databases two connections are open to; see
     * {@link SchemaDiff#between(Connection, Connection)}.
     *
     * @param left  the reference, usually the source
     * @param right the copy, usually the target
     * @return the differences, empty when the schemas are the same
     * @throws SQLException when reading either catalog fails
     */
    SchemaDiff compareSchemas(Connection left, Connection right) throws SQLException;
}

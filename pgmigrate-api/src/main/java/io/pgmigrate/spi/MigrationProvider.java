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

    /** Creates a migration from a configuration that {@code build()} has already validated. */
    Migration create(MigrationConfig config);

    /**
     * Compares the schemas of the databases two connections are open to; see
     * {@link SchemaDiff#between(Connection, Connection)}.
     *
     * @throws SQLException when reading either catalog fails
     */
    SchemaDiff compareSchemas(Connection left, Connection right) throws SQLException;
}

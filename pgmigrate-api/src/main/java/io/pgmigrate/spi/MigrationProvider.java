package io.pgmigrate.spi;

import io.pgmigrate.Migration;
import io.pgmigrate.MigrationConfig;

/**
 * The implementation of the API, found with {@link java.util.ServiceLoader}. pgmigrate-core registers one in
 * {@code META-INF/services/io.pgmigrate.spi.MigrationProvider}.
 *
 * @since 0.1.0
 */
public interface MigrationProvider {

    /** Creates a migration from a configuration that {@code build()} has already validated. */
    Migration create(MigrationConfig config);
}

package io.pgmigrate.core;

import io.pgmigrate.Migration;
import io.pgmigrate.MigrationConfig;
import io.pgmigrate.spi.MigrationProvider;

/** Registers pgmigrate-core as the implementation of the API (see {@code META-INF/services}). */
public final class CoreMigrationProvider implements MigrationProvider {

    @Override
    public Migration create(MigrationConfig config) {
        return new MdcMigration(new DefaultMigration(config));
    }
}

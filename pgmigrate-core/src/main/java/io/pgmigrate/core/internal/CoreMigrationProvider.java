package io.pgmigrate.core.internal;

import io.pgmigrate.Migration;
import io.pgmigrate.MigrationConfig;
import io.pgmigrate.SchemaDiff;
import io.pgmigrate.core.internal.schema.SchemaComparison;
import io.pgmigrate.spi.MigrationProvider;

import java.sql.Connection;
import java.sql.SQLException;

/** Registers pgmigrate-core as the implementation of the API (see {@code META-INF/services}). */
public final class CoreMigrationProvider implements MigrationProvider {

    @Override
    public Migration create(MigrationConfig config) {
        return new MdcMigration(new DefaultMigration(config));
    }

    @Override
    public SchemaDiff compareSchemas(Connection left, Connection right) throws SQLException {
        return SchemaComparison.compare(left, right);
    }
}

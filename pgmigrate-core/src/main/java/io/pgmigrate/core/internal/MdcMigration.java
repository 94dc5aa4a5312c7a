package io.pgmigrate.core.internal;

import io.pgmigrate.CutoverReport;
import io.pgmigrate.Fence;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationConfig;
import io.pgmigrate.MigrationStatus;
import io.pgmigrate.PreflightReport;
import io.pgmigrate.SchemaDiff;
import io.pgmigrate.Sentinel;
import io.pgmigrate.SequenceSync;
import io.pgmigrate.Side;
import io.pgmigrate.VerificationReport;

import java.time.Duration;
import java.util.Optional;
import java.util.function.Supplier;

/** A migration whose every call runs with the migration's name in the MDC ({@link Mdc#MIGRATION}). */
final class MdcMigration implements Migration {

    private final Migration delegate;
    private final String name;

    MdcMigration(Migration delegate) {
        this.delegate = delegate;
        this.name = delegate.name();
    }

    private <T> T in(Supplier<T> call) {
        try (Mdc.Scope s = Mdc.put(Mdc.MIGRATION, name)) {
            return call.get();
        }
    }

    /** A call about one database: its name in the MDC too ({@link Mdc#DATABASE}). */
    private <T> T in(String database, Supplier<T> call) {
        try (Mdc.Scope s = Mdc.put(Mdc.MIGRATION, name); Mdc.Scope d = Mdc.put(Mdc.DATABASE, database)) {
            return call.get();
        }
    }

    private void in(Runnable call) {
        try (Mdc.Scope s = Mdc.put(Mdc.MIGRATION, name)) {
            call.run();
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public MigrationConfig config() {
        return delegate.config();
    }

    @Override
    public PreflightReport preflight() {
        return in(delegate::preflight);
    }

    @Override
    public void start() {
        in(delegate::start);
    }

    @Override
    public void pause() {
        in(delegate::pause);
    }

    @Override
    public MigrationStatus awaitInSync(Duration timeout) {
        return in(() -> delegate.awaitInSync(timeout));
    }

    @Override
    public MigrationStatus status() {
        return in(delegate::status);
    }

    @Override
    public MigrationStatus recordedStatus() {
        return in(delegate::recordedStatus);
    }

    @Override
    public VerificationReport verify() {
        return in(delegate::verify);
    }

    @Override
    public VerificationReport repair(VerificationReport differences) {
        return in(() -> delegate.repair(differences));
    }

    @Override
    public VerificationReport repair(String database, String schema, String table) {
        return in(() -> delegate.repair(database, schema, table));
    }

    @Override
    public CutoverReport cutover() {
        return in(delegate::cutover);
    }

    @Override
    public CutoverReport rollback() {
        return in(delegate::rollback);
    }

    @Override
    public Optional<CutoverReport> recover() {
        return in(delegate::recover);
    }

    @Override
    public SchemaDiff schemaDiff(String database) {
        return in(database, () -> delegate.schemaDiff(database));
    }

    @Override
    public void applyOnFencedSide(String database, String sql) {
        in(database, () -> {
            delegate.applyOnFencedSide(database, sql);
            return null;
        });
    }

    @Override
    public Fence fence(Side side, String database) {
        return in(database, () -> delegate.fence(side, database));
    }

    @Override
    public Sentinel sentinel(Side publisher, String database) {
        return in(database, () -> delegate.sentinel(publisher, database));
    }

    @Override
    public SequenceSync sequenceSync(Side from, String database) {
        return in(database, () -> delegate.sequenceSync(from, database));
    }

    @Override
    public void complete() {
        in(delegate::complete);
    }

    @Override
    public void close() {
        in(delegate::close);
    }

    @Override
    public String toString() {
        return delegate.toString();
    }
}

package io.pgmigrate.core.it;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.pgmigrate.Migration;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 13: every line pgmigrate logs carries the migration ({@code pgmigrate.migration}); a line about one database
 * carries it ({@code pgmigrate.database}), on the cutover's worker threads too; a line about one server carries its
 * side ({@code pgmigrate.side}). Read from the log events themselves, through Logback, as a user's log pipeline would.
 */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class MdcIT {

    private static final Duration SYNC = Duration.ofMinutes(2);

    @Test
    void everyLineCarriesTheMigrationAndTheDatabaseAndTheSideItConcerns(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        List<String> dbs = List.of("mdc_orders", "mdc_billing");
        for (String db : dbs) {
            Ledger.create(source, db, 1);
        }
        Ledger.createRole(target);
        Logger pgmigrate = (Logger) LoggerFactory.getLogger("io.pgmigrate");
        ListAppender<ILoggingEvent> events = new ListAppender<>();
        events.start();
        pgmigrate.addAppender(events);
        try (Migration m = CutoverContract.builder(source, target, state, "labelled", dbs.toArray(String[]::new))
                .build()) {
            m.start();
            m.awaitInSync(SYNC);
            for (String db : dbs) {
                Ledger.grant(target, db);
            }
            assertThat(m.cutover().succeeded()).isTrue();
            m.complete();
        } finally {
            pgmigrate.detachAppender(events);
        }

        List<ILoggingEvent> lines = List.copyOf(events.list);
        assertThat(lines).as("the migration logged").hasSizeGreaterThan(10);
        assertThat(lines).allSatisfy(e -> assertThat(e.getMDCPropertyMap())
                .as("migration of: %s", e.getFormattedMessage()).containsEntry("pgmigrate.migration", "labelled"));
        for (String db : dbs) {
            List<ILoggingEvent> about = lines.stream().filter(e -> e.getFormattedMessage().startsWith(db + ":"))
                    .toList();
            assertThat(about).as("lines about %s", db).hasSizeGreaterThan(5);
            assertThat(about).allSatisfy(e -> assertThat(e.getMDCPropertyMap())
                    .as("database of: %s", e.getFormattedMessage()).containsEntry("pgmigrate.database", db));
            assertThat(about).as("the cutover's worker threads label theirs too")
                    .anyMatch(e -> !e.getThreadName().equals(Thread.currentThread().getName()));

            assertThat(side(about, db + ": created publication")).isEqualTo("SOURCE");
            assertThat(side(about, db + ": created subscription")).isEqualTo("TARGET");
            assertThat(side(about, db + ": fenced on the source")).isEqualTo("SOURCE");
            assertThat(side(about, db + ": created the database on the target")).isEqualTo("TARGET");
            assertThat(side(about, db + ": created the schema on the target")).isEqualTo("TARGET");
        }
    }

    /** The side of the first line that starts with {@code prefix}; the line must exist. */
    private static String side(List<ILoggingEvent> lines, String prefix) {
        ILoggingEvent line = lines.stream().filter(e -> e.getFormattedMessage().startsWith(prefix)).findFirst()
                .orElseThrow(() -> new AssertionError("no line starts with '" + prefix + "'"));
        return line.getMDCPropertyMap().get("pgmigrate.side");
    }
}

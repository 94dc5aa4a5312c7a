package io.pgmigrate.core.it;

import io.pgmigrate.CutoverException;
import io.pgmigrate.Migration;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/** The cutover's pre-check refuses before touching anything when the stream would leave rows behind. */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class CutoverPrecheckIT {

    @Test
    void aTableCreatedAfterStartThatTheStreamDoesNotCarryStopsTheCutoverBeforeTheFence(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "late_table";
        source.createDatabase(db);
        source.execute(db, "CREATE TABLE early (id int PRIMARY KEY)");
        try (Migration m = Migration.builder().name("late").source(source.endpoint()).target(target.endpoint())
                .databases(db).stateDirectory(state).build()) {
            m.start();
            m.awaitInSync(Duration.ofMinutes(2));
            for (PostgresServer s : new PostgresServer[]{source, target}) {
                s.execute(db, "CREATE TABLE late (id int PRIMARY KEY)");
            }
            source.execute(db, "INSERT INTO late VALUES (1)");

            CutoverException e = catchThrowableOfType(CutoverException.class, m::cutover);
            assertThat(e).isNotNull();
            assertThat(e.getMessage()).contains("public.late").contains("not in publication")
                    .contains("nothing was changed");
            assertThat(Fixtures.count(source, db, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'pgmigrate%'"))
                    .as("no fence was installed").isZero();
            source.execute(db, "INSERT INTO late VALUES (2)"); // the source is writable
            m.complete();
        }
    }
}

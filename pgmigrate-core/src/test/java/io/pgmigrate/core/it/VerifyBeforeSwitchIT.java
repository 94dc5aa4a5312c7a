package io.pgmigrate.core.it;

import io.pgmigrate.CutoverException;
import io.pgmigrate.CutoverReport;
import io.pgmigrate.Migration;
import io.pgmigrate.VerificationReport;
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

/**
 * With verifyBeforeSwitch, a cutover compares the tables inside the fence and refuses on a real difference (fences
 * lifted, traffic where it was), goes on once repair() fixed it, and within a budget too small for the tables goes on
 * with what it compared, saying so.
 */
@PostgresPair(source = 14, target = 18)
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class VerifyBeforeSwitchIT {

    @Test
    void aCutoverRefusesOnARealDifferenceFoundInsideTheFence(
            @Source PostgresServer source, @Target PostgresServer target, @TempDir Path state) throws Exception {
        String db = "proven";
        Ledger.create(source, db, 1, false);
        Ledger.createRole(target);
        source.execute(db, """
                CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(14,2) NOT NULL);
                INSERT INTO accounts SELECT g, 'owner ' || g, g * 1.5 FROM generate_series(1, 250000) g;
                """);
        try (Migration m = CutoverContract.streaming(target, db, CutoverContract.builder(source, target, state,
                "proven", db).verifyBeforeSwitch(Duration.ofMinutes(2)))) {
            target.execute(db, "SET session_replication_role = replica;"
                    + " UPDATE accounts SET balance = 0 WHERE id = 222222");

            CutoverException refused = catchThrowableOfType(CutoverException.class, m::cutover);
            assertThat(refused).as("the cutover refuses").isNotNull();
            assertThat(refused.getMessage()).contains("inside the fence").contains("public.accounts in key ranges [(")
                    .contains(", +inf]]").contains("repair");
            assertThat(refused.report().succeeded()).isFalse();
            CutoverContract.assertSourceAcceptsWrites(source, db);

            VerificationReport fixed = m.repair(m.verify());
            assertThat(fixed.matches()).as(fixed.toText()).isTrue();
            m.awaitInSync(Duration.ofMinutes(2));
            CutoverReport r = m.cutover();
            assertThat(r.succeeded()).as(r.toString()).isTrue();
            assertThat(r.steps()).extracting(CutoverReport.Step::name)
                    .anySatisfy(s -> assertThat(s).startsWith("verify (").contains("tables equal")
                            .doesNotContain("budget spent"));
            CutoverContract.assertSourceRefusesWrites(source, db);
            assertThat(Fixtures.fingerprint(target, db, "accounts"))
                    .isEqualTo(Fixtures.fingerprint(source, db, "accounts"));
            m.rollback();
        }
        // a budget no table fits in: the cutover goes on, and says how much it compared
        try (Migration m = CutoverContract.builder(source, target, state, "proven", db)
                .verifyBeforeSwitch(Duration.ofNanos(1)).build()) {
            m.awaitInSync(Duration.ofMinutes(2));
            CutoverReport r = m.cutover();
            assertThat(r.succeeded()).as(r.toString()).isTrue();
            assertThat(r.steps()).extracting(CutoverReport.Step::name)
                    .anySatisfy(s -> assertThat(s).startsWith("verify (").contains("budget spent"));
            m.complete();
        }
    }
}

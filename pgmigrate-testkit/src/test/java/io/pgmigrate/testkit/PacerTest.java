package io.pgmigrate.testkit;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PacerTest {

    @Test
    void callsAreSpacedAtLeastOneIntervalApart() throws InterruptedException {
        Pacer pacer = Pacer.perSecond(100); // 10 ms apart
        long start = System.nanoTime();
        for (int i = 0; i < 21; i++) {
            pacer.await();
        }
        // The first call passes at once; twenty more need at least twenty intervals, however fast the machine is.
        assertThat((System.nanoTime() - start) / 1_000_000).isGreaterThanOrEqualTo(200);
    }

    @Test
    void aWriterThatFellBehindDoesNotBurst() throws InterruptedException {
        Pacer pacer = Pacer.perSecond(100);
        pacer.await();
        Thread.sleep(100); // ten slots missed, as a writer blocked by a fence would
        long start = System.nanoTime();
        pacer.await(); // due at once
        pacer.await(); // one interval later, not at once
        assertThat((System.nanoTime() - start) / 1_000_000).isGreaterThanOrEqualTo(10);
    }

    @Test
    void aRateMustBePositive() {
        assertThatThrownBy(() -> Pacer.perSecond(0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("rate");
    }
}

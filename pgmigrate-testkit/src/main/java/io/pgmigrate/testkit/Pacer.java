package io.pgmigrate.testkit;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Spaces a test writer's commits at a fixed rate, so the writer loads the servers the same on a fast machine and on a
 * loaded two-core one: a test whose stream must keep up then keeps up everywhere, and a test that needs the target
 * behind makes it so on purpose (pause the stream) instead of hoping the machine is slow. A writer that falls behind
 * does not burst to make up the lost slots. One pacer per thread; not thread-safe.
 */
public final class Pacer {

    private final long intervalNanos;
    private long next;

    private Pacer(long intervalNanos) {
        this.intervalNanos = intervalNanos;
        this.next = System.nanoTime();
    }

    /** A pacer that lets {@code rate} calls of {@link #await()} through each second. */
    public static Pacer perSecond(int rate) {
        if (rate <= 0) {
            throw new IllegalArgumentException("rate must be positive, was " + rate);
        }
        return new Pacer(Duration.ofSeconds(1).toNanos() / rate);
    }

    /** Blocks until the next slot is due. */
    public void await() throws InterruptedException {
        long now = System.nanoTime();
        long wait = next - now;
        if (wait > 0) {
            TimeUnit.NANOSECONDS.sleep(wait);
            now = next;
        }
        next = now + intervalNanos;
    }
}

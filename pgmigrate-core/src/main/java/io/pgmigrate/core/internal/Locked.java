package io.pgmigrate.core.internal;

import io.pgmigrate.Fence;
import io.pgmigrate.Lsn;
import io.pgmigrate.Sentinel;
import io.pgmigrate.SequenceSync;
import io.pgmigrate.Side;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

/**
 * The primitives as handed to callers: each call holds the migration's lock, because they share its connections
 * with {@code cutover()}, and a call in between (an {@code emit()} committing a half-done fence transaction) would
 * corrupt it. A call that changes a server first makes the migration this process's (its lock, see {@code Ownership}).
 */
final class Locked {

    private Locked() {
    }

    static Fence fence(Object lock, Runnable own, Fence f) {
        return new Fence() {
            @Override
            public Side side() {
                return f.side();
            }

            @Override
            public String database() {
                return f.database();
            }

            @Override
            public void prepare() {
                synchronized (lock) {
                    own.run();
                    f.prepare();
                }
            }

            @Override
            public void engage() {
                synchronized (lock) {
                    own.run();
                    f.engage();
                }
            }

            @Override
            public void lift() {
                synchronized (lock) {
                    own.run();
                    f.lift();
                }
            }

            @Override
            public boolean engaged() {
                synchronized (lock) {
                    return f.engaged();
                }
            }

            @Override
            public Optional<Instant> engagedAt() {
                return f.engagedAt();
            }

            @Override
            public Optional<Instant> liftedAt() {
                return f.liftedAt();
            }
        };
    }

    static Sentinel sentinel(Object lock, Sentinel s) {
        return new Sentinel() {
            @Override
            public Lsn emit() {
                synchronized (lock) {
                    return s.emit();
                }
            }

            @Override
            public Lsn await(Lsn lsn, Duration timeout) {
                synchronized (lock) {
                    return s.await(lsn, timeout);
                }
            }
        };
    }

    static SequenceSync sequenceSync(Object lock, Runnable own, SequenceSync s) {
        return margin -> {
            synchronized (lock) {
                own.run();
                return s.sync(margin);
            }
        };
    }
}

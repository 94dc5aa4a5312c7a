package io.pgmigrate.core.it;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.StateStore;

import java.util.Optional;

/**
 * A state store that refuses every save from the first document containing a marker on, until healed: a cluster
 * store that lost quorum, a full disk. Loads and deletes pass through.
 */
final class FailingStateStore implements StateStore {

    private final StateStore delegate;
    private volatile String marker;
    private volatile String afterMarker;
    private volatile boolean failing;

    FailingStateStore(StateStore delegate) {
        this.delegate = delegate;
    }

    /** Refuses the first save whose document contains {@code marker}, and every save after it. */
    void failFrom(String marker) {
        this.marker = marker;
    }

    /** Accepts the first save whose document contains {@code marker}, and refuses every save after it. */
    void failAfter(String marker) {
        this.afterMarker = marker;
    }

    /** Refuses every save from now on. */
    void failNow() {
        failing = true;
    }

    void heal() {
        marker = null;
        afterMarker = null;
        failing = false;
    }

    @Override
    public Optional<String> load(String key) {
        return delegate.load(key);
    }

    @Override
    public void save(String key, String document) {
        String m = marker;
        failing |= m != null && document.contains(m);
        if (failing) {
            throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, "the test's state store is down");
        }
        delegate.save(key, document);
        String after = afterMarker;
        failing |= after != null && document.contains(after);
    }

    @Override
    public void delete(String key) {
        delegate.delete(key);
    }
}

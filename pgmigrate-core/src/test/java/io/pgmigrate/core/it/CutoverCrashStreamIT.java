package io.pgmigrate.core.it;

import io.pgmigrate.Engine;
import io.pgmigrate.testkit.PostgresPair;

/**
 * The crash proofs of {@link CutoverCrashIT} with the STREAM engine, whose streams run in the migrating JVM: the
 * killed process takes them with it, and the new one runs them again from the target's committed position.
 */
@PostgresPair(source = 14, target = 18)
class CutoverCrashStreamIT extends CutoverCrashIT {

    @Override
    Engine engine() {
        return Engine.STREAM;
    }
}

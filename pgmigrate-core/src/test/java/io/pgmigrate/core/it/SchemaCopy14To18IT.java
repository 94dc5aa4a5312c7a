package io.pgmigrate.core.it;

import io.pgmigrate.testkit.PostgresPair;

/** The catalog schema copy from PostgreSQL 14 to 18. */
@PostgresPair(source = 14, target = 18)
class SchemaCopy14To18IT extends SchemaCopyContract {
}

package io.pgmigrate.core.it;

import io.pgmigrate.testkit.PostgresPair;

/** The schema corpus copied from PostgreSQL 14 to 18. */
@PostgresPair(source = 14, target = 18)
class SchemaCorpus14To18IT extends SchemaCorpusContract {
}

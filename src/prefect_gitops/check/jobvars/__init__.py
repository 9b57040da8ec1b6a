"""Job variables against a work pool's base job template, with the Prefect server's rules.

Mirrors `prefect/server/api/validation.py` and `prefect/utilities/schema_tools/validation.py`
(3.9.1), without importing Prefect:

- the pool's `variables` schema must be a valid Draft 2020-12 schema ("the pool's schema
  is broken" is reported apart from "your job variables are wrong");
- deployment level: the pool's defaults (those valid against the raw schema) are merged
  under the job variables with a shallow `dict.update`, then validated against the
  preprocessed schema (optional properties accept null, tuple `items` lists become
  `prefixItems`, block definitions accept `{"$ref": ...}`) with every `required` key
  removed recursively (but not inside lists: that is what the server does);
- pool level (creation): every default, merged, against the same preprocessed schema.

Values that are Prefect templates are first resolved as `prefect deploy` does (blocks,
then variables, then the environment, then step outputs, dropping what is still
unresolved). What only exists at deploy time (a block's data, a step output, an
environment variable not set here) becomes an `Unknown`: it is never reported as a type
error, and a note says why it cannot be checked offline.

Pure: no I/O. Problems are data (`problems`); `rules/` turns them into located diagnostics.
`deploytime` templates the values as `prefect deploy` would, `schema` holds the server's
handling of the pool's schema, and `verdicts` puts them together into the server's answer.
"""

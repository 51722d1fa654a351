-- A fingerprint of everything pg_courier puts in the catalog: columns (in
-- order, with types, collations, defaults), constraints, indexes, functions
-- (definition and privileges), views, comments and pg_dump configuration.
-- test/scenarios/upgrade.sh compares it between a fresh install and an
-- upgraded one.
SELECT line FROM (
    SELECT format('column %s.%s %s %s%s%s%s', c.relname, a.attnum, a.attname,
                  pg_catalog.format_type(a.atttypid, a.atttypmod),
                  CASE WHEN a.attcollation <> t.typcollation
                       THEN ' collate ' || co.collname ELSE '' END,
                  CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                  coalesce(' default ' || pg_catalog.pg_get_expr(d.adbin, d.adrelid), '')) AS line
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
      LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
     WHERE c.relnamespace = 'courier'::regnamespace
    UNION ALL
    SELECT format('relation %s %s acl %s', c.relname, c.relkind, c.relacl)
      FROM pg_catalog.pg_class c WHERE c.relnamespace = 'courier'::regnamespace
    UNION ALL
    SELECT format('constraint %s %s %s', co.conrelid::regclass, co.conname,
                  pg_catalog.pg_get_constraintdef(co.oid))
      FROM pg_catalog.pg_constraint co WHERE co.connamespace = 'courier'::regnamespace
    UNION ALL
    SELECT format('index %s', pg_catalog.pg_get_indexdef(i.indexrelid))
      FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
     WHERE c.relnamespace = 'courier'::regnamespace
    UNION ALL
    SELECT format('function %s acl %s md5 %s', p.oid::regprocedure, p.proacl,
                  md5(pg_catalog.pg_get_functiondef(p.oid)))
      FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'courier'::regnamespace
    UNION ALL
    SELECT format('view %s %s', c.relname, md5(pg_catalog.pg_get_viewdef(c.oid)))
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace = 'courier'::regnamespace AND c.relkind = 'v'
    UNION ALL
    SELECT format('comment %s %s', d.classoid::regclass, d.description)
      FROM pg_catalog.pg_description d
      JOIN pg_catalog.pg_depend dep ON dep.classid = d.classoid AND dep.objid = d.objoid
                                   AND dep.deptype = 'e'
     WHERE dep.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'pg_courier')
    UNION ALL
    SELECT format('config %s %s', cfg::regclass, cond)
      FROM pg_catalog.pg_extension x,
           unnest(x.extconfig, x.extcondition) AS u(cfg, cond)
     WHERE x.extname = 'pg_courier'
    UNION ALL
    SELECT format('member %s', pg_catalog.pg_describe_object(dep.classid, dep.objid, 0))
      FROM pg_catalog.pg_depend dep
     WHERE dep.deptype = 'e'
       AND dep.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'pg_courier')
) AS f
ORDER BY line;

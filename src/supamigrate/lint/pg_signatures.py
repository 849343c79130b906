"""Argument counts of the built-ins that are never volatile (PG 15's pg_proc, with defaults).

A default calling a built-in with a count no overload takes (`now(123)`, `abs(1, 2)`) calls no
built-in: Postgres would look for a user function of that name, which may be VOLATILE, so lint
treats it as one it does not know. Each group below is headed by the counts its names take
(`n+`: a VARIADIC overload taking n or more); pg_functions holds the one- and two-argument
names. tests/lint/test_lint_rules.py checks every count against the server the tests run on.
"""

from supamigrate.lint.pg_functions import ONE_ARGUMENT, TWO_ARGUMENTS

_GROUPS = """
[6]
big5_to_euc_tw big5_to_mic big5_to_utf8 euc_cn_to_mic euc_cn_to_utf8 euc_jis_2004_to_shift_jis_2004
euc_jis_2004_to_utf8 euc_jp_to_mic euc_jp_to_sjis euc_jp_to_utf8 euc_kr_to_mic euc_kr_to_utf8
euc_tw_to_big5 euc_tw_to_mic euc_tw_to_utf8 gb18030_to_utf8 gbk_to_utf8 iso8859_1_to_utf8
iso8859_to_utf8 iso_to_koi8r iso_to_mic iso_to_win1251 iso_to_win866 johab_to_utf8 koi8r_to_iso
koi8r_to_mic koi8r_to_utf8 koi8r_to_win1251 koi8r_to_win866 koi8u_to_utf8 latin1_to_mic
latin2_to_mic latin2_to_win1250 latin3_to_mic latin4_to_mic make_timestamp mic_to_big5
mic_to_euc_cn mic_to_euc_jp mic_to_euc_kr mic_to_euc_tw mic_to_iso mic_to_koi8r mic_to_latin1
mic_to_latin2 mic_to_latin3 mic_to_latin4 mic_to_sjis mic_to_win1250 mic_to_win1251 mic_to_win866
shift_jis_2004_to_euc_jis_2004 shift_jis_2004_to_utf8 sjis_to_euc_jp sjis_to_mic sjis_to_utf8
uhc_to_utf8 utf8_to_big5 utf8_to_euc_cn utf8_to_euc_jis_2004 utf8_to_euc_jp utf8_to_euc_kr
utf8_to_euc_tw utf8_to_gb18030 utf8_to_gbk utf8_to_iso8859 utf8_to_iso8859_1 utf8_to_johab
utf8_to_koi8r utf8_to_koi8u utf8_to_shift_jis_2004 utf8_to_sjis utf8_to_uhc utf8_to_win
win1250_to_latin2 win1250_to_mic win1251_to_iso win1251_to_koi8r win1251_to_mic win1251_to_win866
win866_to_iso win866_to_koi8r win866_to_mic win866_to_win1251 win_to_utf8
[3]
anycompatiblemultirange_in anycompatiblerange_in anymultirange_in anyrange_in array_in array_recv
array_replace bit_in bit_recv bpcharin bpcharrecv brin_bloom_union brin_inclusion_consistent
brin_inclusion_union brin_minmax_consistent brin_minmax_multi_union brin_minmax_union
bytea_string_agg_transfn convert database_to_xml database_to_xml_and_xmlschema
database_to_xmlschema date_bin domain_in domain_recv float8_regr_accum gin_extract_jsonb
gin_extract_jsonb_path gist_box_penalty gist_box_same gtsquery_penalty gtsquery_same
gtsvector_penalty gtsvector_same inet_gist_penalty inet_gist_same int8inc_float8_float8 interval_in
interval_recv json_object_agg_transfn jsonb_object_agg_transfn make_date make_time multirange_in
multirange_recv numeric_in numeric_recv percentile_disc_final percentile_disc_multi_final
pg_column_is_updatable pg_describe_object pg_get_object_address pg_identify_object
pg_identify_object_as_address pg_index_column_has_property prsd_headline prsd_nexttoken
range_gist_penalty range_gist_same range_in range_recv record_in record_recv replace set_bit
set_byte split_part string_agg_transfn time_in time_recv timestamp_in timestamp_recv timestamptz_in
timestamptz_recv timetz_in timetz_recv translate varbit varbit_in varbit_recv varcharin varcharrecv
[0]
current_database current_schema current_user get_current_ts_config getdatabaseencoding
getpgusername inet_client_addr inet_client_port inet_server_addr inet_server_port now
pg_available_extension_versions pg_available_extensions pg_backend_pid pg_client_encoding
pg_conf_load_time pg_config pg_current_snapshot pg_current_xact_id pg_current_xact_id_if_assigned
pg_cursor pg_event_trigger_ddl_commands pg_event_trigger_dropped_objects
pg_event_trigger_table_rewrite_oid pg_event_trigger_table_rewrite_reason
pg_get_catalog_foreign_keys pg_get_keywords pg_get_replication_slots pg_listening_channels
pg_my_temp_schema pg_postmaster_start_time pg_prepared_statement pg_show_all_settings
pg_stat_get_archiver pg_stat_get_backend_idset pg_stat_get_bgwriter_buf_written_checkpoints
pg_stat_get_bgwriter_buf_written_clean pg_stat_get_bgwriter_maxwritten_clean
pg_stat_get_bgwriter_requested_checkpoints pg_stat_get_bgwriter_stat_reset_time
pg_stat_get_bgwriter_timed_checkpoints pg_stat_get_buf_alloc pg_stat_get_buf_fsync_backend
pg_stat_get_buf_written_backend pg_stat_get_checkpoint_sync_time pg_stat_get_checkpoint_write_time
pg_stat_get_slru pg_stat_get_snapshot_timestamp pg_stat_get_wal pg_stat_get_wal_receiver
pg_stat_get_wal_senders pg_timezone_abbrevs pg_timezone_names pg_trigger_depth pi session_user
statement_timestamp transaction_timestamp txid_current txid_current_if_assigned
txid_current_snapshot version
[2 3]
array_fill array_position array_to_string bit date_trunc daterange generate_series
generate_subscripts gin_extract_tsvector ginarrayextract has_any_column_privilege
has_database_privilege has_foreign_data_wrapper_privilege has_function_privilege
has_language_privilege has_parameter_privilege has_schema_privilege has_sequence_privilege
has_server_privilege has_table_privilege has_tablespace_privilege has_type_privilege int4range
int8range json_populate_record json_populate_recordset json_to_tsvector jsonb_to_tsvector lpad
numrange pg_get_expr pg_has_role regexp_like regexp_match regexp_matches regexp_split_to_array
regexp_split_to_table rpad setweight string_to_array string_to_table substr substring
tsquery_phrase tsrange tstzrange xpath xpath_exists
[1 2]
age array_to_json box btrim circle current_setting enum_range interval is_normalized ishorizontal
isvertical json_object jsonb_object length log lseg ltrim normalize numeric obj_description
parse_ident pg_get_constraintdef pg_get_ruledef pg_get_triggerdef pg_get_viewdef phraseto_tsquery
plainto_tsquery point polygon range_merge round row_to_json rtrim similar_to_escape time timestamp
timestamptz timetz to_ascii to_timestamp to_tsquery to_tsvector trunc ts_debug websearch_to_tsquery
[4]
areasel arraycontsel brin_bloom_add_value brin_bloom_consistent brin_inclusion_add_value
brin_minmax_add_value brin_minmax_multi_add_value brin_minmax_multi_consistent contsel
dispell_lexize dsimple_lexize dsynonym_lexize eqsel gin_cmp_prefix iclikesel icnlikesel
icregexeqsel icregexnesel likesel makeaclitem matchingsel multirangesel neqsel networksel nlikesel
overlaps positionsel prefixsel rangesel regexeqsel regexnesel scalargesel scalargtsel scalarlesel
scalarltsel schema_to_xml schema_to_xml_and_xmlschema schema_to_xmlschema table_to_xml
table_to_xml_and_xmlschema table_to_xmlschema thesaurus_lexize tsmatchsel
[5]
areajoinsel arraycontjoinsel contjoinsel eqjoinsel gist_box_consistent gist_box_distance
gist_circle_consistent gist_circle_distance gist_point_consistent gist_point_distance
gist_poly_consistent gist_poly_distance gtsquery_consistent gtsvector_consistent iclikejoinsel
icnlikejoinsel icregexeqjoinsel icregexnejoinsel in_range inet_gist_consistent likejoinsel
matchingjoinsel multirange_gist_consistent neqjoinsel networkjoinsel nlikejoinsel positionjoinsel
prefixjoinsel range_gist_consistent regexeqjoinsel regexnejoinsel scalargejoinsel scalargtjoinsel
scalarlejoinsel scalarltjoinsel tsmatchjoinsel
[2 3 4]
jsonb_path_exists jsonb_path_exists_tz jsonb_path_match jsonb_path_match_tz jsonb_path_query
jsonb_path_query_array jsonb_path_query_array_tz jsonb_path_query_first jsonb_path_query_first_tz
jsonb_path_query_tz regexp_count ts_headline ts_rank ts_rank_cd
[2+]
concat_ws cume_dist_final dense_rank_final json_extract_path json_extract_path_text
jsonb_extract_path jsonb_extract_path_text ordered_set_transition_multi percent_rank_final
rank_final
[7]
gin_extract_jsonb_query gin_extract_jsonb_query_path gin_triconsistent_jsonb
gin_triconsistent_jsonb_path gin_tsquery_triconsistent ginarraytriconsistent ginqueryarrayextract
[0 1 1+]
datemultirange int4multirange int8multirange nummultirange tsmultirange tstzmultirange
[0 1+]
json_build_array json_build_object jsonb_build_array jsonb_build_object
[3 4]
has_column_privilege jsonb_insert jsonb_set overlay
[1 3]
bpchar pg_get_indexdef varchar
[1+]
concat num_nonnulls num_nulls
[8]
gin_consistent_jsonb gin_consistent_jsonb_path ginarrayconsistent
[0 1 2 3 4 5 6 7]
make_interval
[1 2+]
format
[2 2+]
jsonb_delete
[2 3 4 5 6]
regexp_substr
[2 3 4 5 6 7]
regexp_instr
[2 4]
width_bucket
[3 4 5]
jsonb_set_lax
[3 4 5 6]
regexp_replace
[4+]
satisfies_hash_partition
[5 7]
gin_extract_tsquery
[6 7]
make_timestamptz
[6 8]
gin_tsquery_consistent
"""


def _parse() -> dict[str, tuple[frozenset[int], int | None]]:
    """name -> (the exact counts its overloads take, the least a VARIADIC one takes)."""
    found: dict[str, tuple[frozenset[int], int | None]] = {}
    groups = [("1", ONE_ARGUMENT), ("2", TWO_ARGUMENTS)]
    for chunk in _GROUPS.split("[")[1:]:
        head, names = chunk.split("]", 1)
        groups.append((head, names))
    for head, names in groups:
        counts = head.split()
        exact = frozenset(int(c) for c in counts if not c.endswith("+"))
        least = next((int(c[:-1]) for c in counts if c.endswith("+")), None)
        for name in names.split():
            found[name] = (exact, least)
    return found


ARGUMENT_COUNTS = _parse()
NON_VOLATILE_BUILTINS = frozenset(ARGUMENT_COUNTS)
NO_ARGUMENT_BUILTINS = frozenset(
    n for n, (exact, least) in ARGUMENT_COUNTS.items() if exact == {0} and least is None
)


def takes(name: str, count: int) -> bool:
    """Some overload of the built-in `name` takes `count` arguments."""
    exact, least = ARGUMENT_COUNTS[name]
    return count in exact or (least is not None and count >= least)

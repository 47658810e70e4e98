#!/bin/sh
# Deluge as one interop client: deluged in the foreground, and deluge-console adding the source to it
# once its RPC port answers. Usage: deluge_client.sh CONFIG_DIR SAVE_DIR SOURCE KIB_PER_S
# The harness kills the whole namespace when the cell ends, so nothing here cleans up.
config=$1
save=$2
source=$3
rate=$4
deluged --do-not-daemonize --config "$config" --loglevel info --logfile "$config/deluged.log" &
daemon=$!
tries=0
until deluge-console --config "$config" "info" >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -gt 100 ] && { echo "deluged never answered" >&2; exit 1; }
    sleep 0.2
done
# A resumed run may find the torrent already in Deluge's saved state: then the add is refused and
# Deluge goes on with the one it has.
deluge-console --config "$config" "add --path '$save' '$source'"
# The torrent's own download cap (-1: none), also over the one a killed run left in Deluge's state.
deluge-console --config "$config" "manage '*' --set max_download_speed $rate"
# A torrent restored from the state of a killed run has no fast-resume data: check what is on disk,
# then go on.
deluge-console --config "$config" "recheck '*'"
deluge-console --config "$config" "resume '*'"
wait "$daemon"

#!/bin/bash
# usage: run.sh OUTDIR ROUNDS variant... ; variant = name=dir:ENV=VAL,ENV=VAL
out=$1; rounds=$2; shift 2
mkdir -p $out
L=/tmp/herald-bench.lock
touch $L
exec 8<$L                      # the old lock file: wait for its shared holders
touch $L.new; exec 9<$L.new; flock -x 9; mv $L.new $L   # new arrivals wait on the file we hold
flock -x 8
for r in $(seq 1 $rounds); do
  for v in "$@"; do
    name=${v%%=*}; rest=${v#*=}; dir=${rest%%:*}; envs=${rest#*:}
    [ "$envs" = "$rest" ] && envs=""
    mkdir -p $out/$name
    ( cd $dir; export PYTHONPATH=$dir/src:$dir; IFS=','; for e in $envs; do export "$e"; done; unset IFS
      /work/main/.venv/bin/python -m bench --backend sqlite --mode batch --no-celery --no-floor --duration 30 --results $out/$name > $out/$name/log-$r.txt 2>&1 )
    echo "$(date +%T) round $r $name done rc=$?"
  done
done

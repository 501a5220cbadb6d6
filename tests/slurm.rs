//! The Slurm example on a real Slurm cluster: a one-node cluster on
//! localhost (munged, slurmctld, slurmd, each with its own files in a
//! scratch folder), `deploy/slurm/sweep.sbatch` submitted as a job array
//! with `sbatch --array`, `deploy/slurm/merge.sbatch` after it with
//! `--dependency=afterok`, and the merged `sweep.csv` and `map.html`
//! compared byte for byte with the same sweep run whole.
//!
//! It needs Slurm and munge (Debian: `slurm-wlm`, `munge`), which `.ci/run`
//! installs before running it with `cargo test --release --test slurm --
//! --ignored`; `cargo test` lists it as ignored.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{TINY, drainstorm, scratch, text};

/// The daemons of a one-node cluster, stopped when dropped.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for pid in ["run/slurmd.pid", "run/slurmctld.pid", "munge/munged.pid"] {
            if let Ok(pid) = std::fs::read_to_string(self.dir.join(pid)) {
                let _ = Command::new("kill").arg(pid.trim()).status();
            }
        }
    }
}

fn output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "{:?}: {e} (install slurm-wlm and munge, as .ci/run does)",
            cmd.get_program()
        )
    });
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn start(dir: &Path) -> Cluster {
    for sub in ["state", "spool", "log", "run", "munge"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let host = output(&mut Command::new("hostname")).trim().to_owned();
    let user = output(Command::new("id").arg("-un")).trim().to_owned();
    let d = dir.display();
    // A private munge: its own key and socket, nothing of the machine's.
    let key = dir.join("munge/munge.key");
    let bytes: Vec<u8> = (0..1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&key, bytes).unwrap();
    output(Command::new("chmod").args(["400"]).arg(&key));
    let socket = dir.join("munge/socket");
    output(
        Command::new("munged")
            .arg("--force")
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--key-file={}", key.display()))
            .arg(format!("--pid-file={d}/munge/munged.pid"))
            .arg(format!("--log-file={d}/munge/munged.log"))
            .arg(format!("--seed-file={d}/munge/seed")),
    );
    let conf = dir.join("slurm.conf");
    std::fs::write(
        &conf,
        format!(
            "ClusterName=drainstorm-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort=26817
SlurmdPort=26818
AuthType=auth/munge
AuthInfo=socket={socket}
CredType=cred/munge
SlurmUser={user}
SlurmdUser={user}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/run/slurmctld.pid
SlurmdPidFile={d}/run/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=4000 State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP
",
            socket = socket.display()
        ),
    )
    .unwrap();
    let cluster = Cluster {
        dir: dir.to_path_buf(),
        conf: conf.clone(),
    };
    output(Command::new("slurmctld").arg("-c").arg("-f").arg(&conf));
    output(Command::new("slurmd").arg("-f").arg(&conf));
    let started = Instant::now();
    loop {
        let nodes = cluster.run("sinfo", &["-h", "-o", "%t"]);
        if nodes.trim() == "idle" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the node never came up idle ({nodes}); {}",
            std::fs::read_to_string(dir.join("log/slurmd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    cluster
}

impl Cluster {
    /// A Slurm command against this cluster.
    fn run(&self, program: &str, args: &[&str]) -> String {
        output(
            Command::new(program)
                .args(args)
                .env("SLURM_CONF", &self.conf),
        )
    }
}

#[test]
#[ignore = "needs Slurm and munge: .ci/run installs them and runs it"]
fn the_sweep_runs_as_a_real_job_array_and_its_merge_is_the_whole_sweep() {
    let dir = scratch("slurm-cluster");
    std::fs::write(dir.join("tiny.toml"), TINY).unwrap();
    let cluster = start(&dir.join("cluster"));
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/slurm");
    let vary = [
        "clients[0].workload.rate=200..600:3",
        "timeline[0].ramp=0s..4s:2",
    ];
    let out = dir.join("array");
    let env = |extra: &str| {
        format!(
            "ALL,DRAINSTORM={},PROFILE=tiny.toml,VARY_1={},VARY_2={},SEEDS=1,OUT={}{extra}",
            env!("CARGO_BIN_EXE_drainstorm"),
            vary[0],
            vary[1],
            out.display()
        )
    };
    let chdir = format!("--chdir={}", dir.display());
    let sweep = deploy.join("sweep.sbatch");
    let merge = deploy.join("merge.sbatch");
    let array = cluster.run(
        "sbatch",
        &[
            "--parsable",
            "--array=1-3",
            "--cpus-per-task=1",
            "--mem=500M",
            &chdir,
            &format!("--export={}", env("")),
            sweep.to_str().unwrap(),
        ],
    );
    let array = array.trim().split(';').next().unwrap().to_owned();
    cluster.run(
        "sbatch",
        &[
            "--parsable",
            &format!("--dependency=afterok:{array}"),
            "--cpus-per-task=1",
            "--mem=200M",
            &chdir,
            &format!("--export={}", env(",N=3")),
            merge.to_str().unwrap(),
        ],
    );
    let started = Instant::now();
    while !cluster.run("squeue", &["-h"]).trim().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the jobs did not finish: {}",
            cluster.run("squeue", &[])
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    // Three array tasks ran, each its own shard, and the merge after them.
    for k in 1..=3 {
        assert!(
            out.join(format!("part-{k}-of-3.jsonl")).exists(),
            "part {k}"
        );
        let log = dir.join(format!("drainstorm-sweep-{array}_{k}.log"));
        assert!(log.exists(), "{}", log.display());
    }
    let logs: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("drainstorm-merge-"))
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let merged = std::fs::read_to_string(dir.join(&logs[0])).unwrap();
    assert!(merged.contains("wrote"), "{merged}");
    let whole = drainstorm(
        &[
            "sweep",
            "tiny.toml",
            "--vary",
            vary[0],
            "--vary",
            vary[1],
            "-n",
            "1",
            "-o",
            "whole",
            "-q",
        ],
        &dir,
    );
    assert!(whole.status.success(), "{}", text(&whole.stderr));
    for file in ["sweep.csv", "map.html"] {
        assert_eq!(
            std::fs::read(dir.join("whole").join(file)).unwrap(),
            std::fs::read(out.join(file)).unwrap(),
            "{file}"
        );
    }
}

//! Password hashing with argon2id, off the async runtime, on threads of
//! its own.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, mpsc};

use crate::config::AuthConfig;
use anyhow::Context as _;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::domain::Password;

/// Hashes and verifies passwords with the configured argon2id cost.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// One hash per core at a time: more only thrash memory bandwidth
    /// (19 MiB each) and make every caller slower. A caller holds its
    /// permit until its hash is done, so a cancelled call queues no work.
    permits: Arc<Semaphore>,
    /// The threads that hash, one per core.
    workers: Workers,
    /// A real hash of a random password, verified against when the email is
    /// unknown so that both failures cost the same time.
    decoy: String,
}

impl PasswordHasher {
    /// A hasher with the costs in `config`.
    pub fn new(config: &AuthConfig) -> anyhow::Result<Self> {
        let params = Params::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let workers = Workers::start(cores)?;
        // On a hashing thread, whose memory is kept for the next hash,
        // rather than on this one, which would keep its own.
        let decoy = {
            let (params, (done, result)) = (params.clone(), mpsc::sync_channel(1));
            workers.submit(Box::new(move || {
                let _ = done.send(hash_with(&params, &uuid::Uuid::new_v4().to_string()));
            }))?;
            result
                .recv()
                .map_err(|_| anyhow::anyhow!("a password hashing thread failed"))??
        };
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(cores)),
            workers,
            decoy,
        })
    }

    fn argon2(params: &Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
    }

    /// The PHC string for a new password.
    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let params = self.params.clone();
        let text = password.expose().to_owned();
        // The permit moves into the blocking task: a cancelled call must not
        // free it while its hash is still running.
        let permit = self.permits.clone().acquire_owned().await?;
        self.workers
            .run(move || {
                let _permit = permit;
                hash_with(&params, &text)
            })
            .await?
    }

    /// Whether `candidate` matches `stored` — or, when there is no stored
    /// hash, the same work against the decoy, returning false.
    pub async fn verify(&self, candidate: &str, stored: Option<&str>) -> anyhow::Result<bool> {
        let (hash, real) = match stored {
            Some(hash) => (hash.to_owned(), true),
            None => (self.decoy.clone(), false),
        };
        let candidate = candidate.to_owned();
        let permit = self.permits.clone().acquire_owned().await?;
        let matched = self
            .workers
            .run(move || {
                let _permit = permit;
                verify_with(&candidate, &hash)
            })
            .await??;
        Ok(real && matched)
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads for argon2. On the runtime's blocking pool each
/// hash could land on another of its many threads, and the allocator keeps
/// a 19 MiB block in each thread's arena once it has freed one (its mmap
/// threshold rises to that size): memory grew with the threads that ever
/// hashed (about 700 MiB after 1,000 registrations). Here it is bounded by
/// the cores.
#[derive(Clone)]
struct Workers {
    jobs: mpsc::Sender<Job>,
}

impl Workers {
    fn start(threads: usize) -> anyhow::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only to take a job; it ends when
                        // every sender (hasher) is gone.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            // A panicking job loses its answer (its caller
                            // gets an error), not the thread.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(_) => return,
                        }
                    }
                })
                .context("starting the password hashing threads")?;
        }
        Ok(Self { jobs })
    }

    /// Queues `job` for the next free thread.
    fn submit(&self, job: Job) -> anyhow::Result<()> {
        self.jobs
            .send(job)
            .map_err(|_| anyhow::anyhow!("the password hashing threads have stopped"))
    }

    /// Runs `work` on one of the threads.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.submit(Box::new(move || {
            let _ = done.send(work());
        }))?;
        result
            .await
            .map_err(|_| anyhow::anyhow!("a password hashing thread failed"))
    }
}

thread_local! {
    /// argon2's working memory (19 MiB at the default cost), kept by each
    /// hashing thread for its next hash. Allocated per hash, a block this
    /// large is what the allocator keeps once freed (glibc raises its mmap
    /// threshold to the size of a freed mapping, so the next ones come from
    /// the heap, which only shrinks from its top): 1,000 registrations left
    /// the process at 452 MiB resident where it now stays under 100.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// argon2id of `password` with `salt`, in this thread's [`MEMORY`].
fn compute(
    argon2: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: Salt<'_>,
    output_len: usize,
) -> anyhow::Result<Output> {
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let salt = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    MEMORY.with_borrow_mut(|blocks| {
        if blocks.len() < params.block_count() {
            blocks.resize(params.block_count(), Block::default());
        }
        Output::init_with(output_len, |out| {
            Ok(argon2.hash_password_into_with_memory(password, salt, out, &mut blocks[..])?)
        })
        .map_err(|e| anyhow::anyhow!("{e}"))
    })
}

fn hash_with(params: &Params, password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = compute(
        &PasswordHasher::argon2(params),
        params,
        password.as_bytes(),
        salt.as_salt(),
        output_len,
    )
    .context("hashing a password")?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| anyhow::anyhow!("{e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// Whether `candidate` hashes to `stored` (a PHC string) with the
/// algorithm, version and cost `stored` names.
fn verify_with(candidate: &str, stored: &str) -> anyhow::Result<bool> {
    let stored = PasswordHash::new(stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
    let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
        anyhow::bail!("stored hash: no salt or no output");
    };
    let algorithm =
        Algorithm::try_from(stored.algorithm).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
    let version = stored
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| anyhow::anyhow!("stored hash: {e}"))?
        .unwrap_or_default();
    let params = Params::try_from(&stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let computed = compute(&argon2, &params, candidate.as_bytes(), salt, expected.len())?;
    // Output's equality is constant-time.
    Ok(computed == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_argon2id_with_the_configured_cost() {
        let hasher = PasswordHasher::new(&AuthConfig::default()).expect("hasher");
        let password = Password::parse("correct horse battery", &[]).expect("valid");
        let hash = hasher.hash(&password).await.expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            hasher
                .verify("correct horse battery", Some(&hash))
                .await
                .expect("verify")
        );
        assert!(
            !hasher
                .verify("wrong horse battery", Some(&hash))
                .await
                .expect("verify")
        );
    }

    #[test]
    fn hashes_in_reused_memory_match_the_crates_own_of_any_cost() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        // Stored hashes of another cost (made before a cost change), larger
        // and smaller than the memory this thread holds, both ways.
        for (m, t) in [(19_456, 2), (8_192, 3), (24_576, 1), (19_456, 2)] {
            let params = Params::new(m, t, 1, None).expect("params");
            let argon2 = PasswordHasher::argon2(&params);
            let salt = SaltString::generate(&mut OsRng);
            let theirs = argon2
                .hash_password(b"correct horse battery", &salt)
                .expect("hash")
                .to_string();
            assert!(verify_with("correct horse battery", &theirs).expect("verify"));
            assert!(!verify_with("correct horse batterz", &theirs).expect("verify"));
            let ours = hash_with(&params, "correct horse battery").expect("hash");
            let parsed = PasswordHash::new(&ours).expect("PHC string");
            assert!(
                argon2
                    .verify_password(b"correct horse battery", &parsed)
                    .is_ok(),
                "{ours}"
            );
            assert!(argon2.verify_password(b"nope", &parsed).is_err());
        }
        assert!(verify_with("x", "$argon2id$v=19$m=19456,t=2,p=1$bm9zYWx0").is_err());
        assert!(verify_with("x", "not a hash").is_err());
    }

    #[tokio::test]
    async fn hashing_runs_on_a_fixed_set_of_threads_that_survive_a_panic() {
        let workers = Workers::start(2).expect("threads");
        let mut names = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let name = workers
                .run(|| std::thread::current().name().map(str::to_owned))
                .await
                .expect("ran");
            names.insert(name.expect("named"));
        }
        assert!(
            names.iter().all(|n| n == "argon2-0" || n == "argon2-1"),
            "{names:?}"
        );
        let failed = workers.run(|| -> u8 { panic!("boom") }).await;
        assert!(failed.is_err());
        assert_eq!(workers.run(|| 7).await.expect("still running"), 7);
    }

    #[tokio::test]
    async fn unknown_users_never_verify() {
        let hasher = PasswordHasher::new(&AuthConfig::default()).expect("hasher");
        assert!(
            !hasher
                .verify("anything at all", None)
                .await
                .expect("verify")
        );
    }
}

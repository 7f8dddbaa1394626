ALTER TABLE `plan_runs` ADD `options` text;--> statement-breakpoint
ALTER TABLE `plan_runs` ADD `of_run_id` integer;--> statement-breakpoint
ALTER TABLE `plan_runs` ADD `cleaned_at` integer;